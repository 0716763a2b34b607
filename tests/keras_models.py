"""Keras models as people bring them: keras_hub backbones and a task model (tiny, random weights), and functional
models whose inputs and outputs are dicts with keys out of sorted order."""

from __future__ import annotations

# The tiny size of a keras_hub text backbone.
TINY = {"vocabulary_size": 100, "num_layers": 2, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32,
        "max_sequence_length": 16}


def _keras():
    import keras

    keras.utils.set_random_seed(0)
    return keras


def bert():
    _keras()
    import keras_hub

    return keras_hub.models.BertBackbone(**TINY)


def gpt2():
    _keras()
    import keras_hub

    return keras_hub.models.GPT2Backbone(**TINY)


def distilbert():
    _keras()
    import keras_hub

    return keras_hub.models.DistilBertBackbone(**TINY)


def bert_classifier():
    _keras()
    import keras_hub

    return keras_hub.models.BertTextClassifier(keras_hub.models.BertBackbone(**TINY), num_classes=3,
                                               preprocessor=None)


def unsorted_dict():
    """Inputs {"zeta", "alpha"} and outputs {"out", "hidden"}: Keras flattens both in sorted key order."""
    keras = _keras()
    zeta = keras.Input((4,), name="zeta")
    alpha = keras.Input((3,), name="alpha")
    hidden = keras.layers.Concatenate(name="joined")([keras.layers.Dense(5)(zeta), keras.layers.Dense(5)(alpha)])
    return keras.Model({"zeta": zeta, "alpha": alpha}, {"out": keras.layers.Dense(2)(hidden), "hidden": hidden})


def failing_layer():
    """A layer that refuses what it is given while the model is built."""
    keras = _keras()

    class NineFeatures(keras.layers.Layer):
        def call(self, x):
            if x.shape[-1] != 9:
                raise ValueError(f"expected 9 features, got {x.shape[-1]}")
            return x

    zeta = keras.Input((4,), name="zeta")
    alpha = keras.Input((3,), name="alpha")
    joined = keras.layers.Concatenate()([zeta, alpha])
    return keras.Model({"zeta": zeta, "alpha": alpha}, NineFeatures(name="nine_features")(joined))
