"""Every TensorFlow source format of every fixture normalizes to ONNX that computes the same."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, TF_DIR
from sources_helpers import assert_agrees, resized

from converter import api
from converter.core.errors import GraphtoolError
from converter.core.scopes import node_scope
from converter.core.types import LoadOptions

KERAS = ["keras_cnn", "keras_two_io", "keras_lstm"]
MODELS = str(FIXTURES / "tf_models.py")


def _path(name: str, form: str) -> str:
    return {
        "savedmodel": str(TF_DIR / f"{name}_savedmodel"),
        "keras": str(TF_DIR / f"{name}.keras"),
        "h5": str(TF_DIR / f"{name}.h5"),
        "python": f"{MODELS}:{name}",
    }[form]


@pytest.mark.slow
@pytest.mark.parametrize("form", ["savedmodel", "keras", "h5", "python"])
@pytest.mark.parametrize("name", KERAS)
def test_every_keras_format_agrees(name, form):
    loaded = api.load(_path(name, form))
    assert loaded.source.framework == "tensorflow"
    assert_agrees(loaded)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["cond_savedmodel", "python"])
def test_tf_function_with_cond_takes_both_branches(source):
    path = str(TF_DIR / source) if source != "python" else f"{MODELS}:cond_module"
    loaded = api.load(path)
    assert any(n.op_type == "If" for n in loaded.model.graph.node)
    positive = {"x": abs(loaded.example_inputs["x"]) + 0.1}
    negative = {"x": -positive["x"]}
    assert_agrees(loaded, positive)
    assert_agrees(loaded, negative)


@pytest.mark.slow
def test_keras_names_kept():
    loaded = api.load(_path("keras_two_io", "keras"))
    assert [i.name for i in loaded.model.graph.input] == ["features", "meta"]
    assert [o.name for o in loaded.model.graph.output] == ["classes", "score"]
    batch = [o.type.tensor_type.shape.dim[0].dim_param for o in loaded.model.graph.output]
    assert batch == ["batch", "batch"]


@pytest.mark.slow
def test_savedmodel_signature_names_kept():
    loaded = api.load(_path("keras_two_io", "savedmodel"))
    assert [i.name for i in loaded.model.graph.input] == ["features", "meta"]
    assert len(loaded.model.graph.output) == 2


@pytest.mark.slow
def test_dynamic_batch_and_sequence():
    loaded = api.load(_path("keras_lstm", "keras"))
    for axis, size in ((0, 5), (1, 9)):
        assert_agrees(loaded, resized(loaded.example_inputs, axis, size))


@pytest.mark.slow
def test_name_scopes_recorded():
    loaded = api.load(_path("keras_cnn", "keras"))
    scopes = {node_scope(n) for n in loaded.model.graph.node}
    assert {"keras_cnn/conv2", "keras_cnn/logits", "keras_cnn/pool1"} <= scopes
    assert "" not in scopes  # nodes tf2onnx fused (Conv+BatchNorm) inherit a scope too


@pytest.mark.slow
def test_input_override_fixes_batch():
    loaded = api.load(_path("keras_cnn", "keras"), LoadOptions(input_specs=("image:4,16,16,3",)))
    assert loaded.example_inputs["image"].shape == (4, 16, 16, 3)
    assert_agrees(loaded)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "options", "message"),
    [
        ("keras_cnn_savedmodel", LoadOptions(signature="predict"), "no signature 'predict'"),
        ("keras_cnn.keras", LoadOptions(input_specs=("pixels:1,16,16,3",)), "no input 'pixels'"),
        ("keras_cnn.keras", LoadOptions(input_specs=("image:1,16,16",)), "rank 3"),
        ("keras_cnn.keras", LoadOptions(input_specs=("image:1,16,16,3:text",)), "unknown dtype"),
    ],
)
def test_bad_tf_inputs(source, options, message):
    with pytest.raises(GraphtoolError, match=message):
        api.load(str(TF_DIR / source), options)


@pytest.mark.slow
def test_lambda_layer_refused_without_trust(tmp_path):
    import keras

    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(GraphtoolError, match="--trust-code"):
        api.load(str(path))
    assert_agrees(api.load(str(path), LoadOptions(trust_code=True)))


@pytest.mark.slow
def test_ops_tf2onnx_leaves_unconverted_are_refused_by_name():
    import tensorflow as tf

    class Lgamma(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            return tf.math.lgamma(x)

    with pytest.raises(GraphtoolError, match=r"tf2onnx left 1 TensorFlow op\(s\) unconverted \(Lgamma"):
        api.load(Lgamma())


@pytest.mark.slow
def test_erfc_and_xla_compiled_grouped_convolutions_convert():
    """Keras runs grouped convolutions as XLA-compiled calls and writes exact GELU with erfc (ConvNeXt has both)."""
    import keras

    inputs = keras.Input((12, 12, 8), name="image")
    hidden = keras.layers.Conv2D(8, 3, padding="same", groups=8, name="depthwise")(inputs)
    hidden = keras.layers.Activation("gelu", name="gelu")(hidden)
    outputs = keras.layers.Conv2D(6, 3, padding="same", groups=2, name="grouped")(hidden)
    loaded = api.load(keras.Model(inputs, outputs, name="blocks"))
    ops = [n.op_type for n in loaded.model.graph.node]
    assert ops.count("Conv") == 2 and "Erf" in ops
    convs = [node_scope(n) for n in loaded.model.graph.node if n.op_type == "Conv"]
    assert convs == ["blocks/depthwise", "blocks/grouped"]
    assert_agrees(loaded)
    assert_agrees(loaded, resized(loaded.example_inputs, 0, 3))


@pytest.mark.slow
def test_constants_a_function_captures_become_initializers():
    import keras
    import numpy as np

    inputs = keras.Input((4,), name="x")
    scaled = keras.layers.Normalization(mean=np.arange(4.0), variance=np.full(4, 4.0))(inputs)
    loaded = api.load(keras.Model(inputs, scaled))
    assert [i.name for i in loaded.model.graph.input] == ["x"]
    assert_agrees(loaded)


_CUSTOM_LAYER = '''
import keras


@keras.saving.register_keras_serializable(package="graphtool_test")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2.0
'''


@pytest.mark.slow
def test_custom_objects_file_registers_the_model_classes(tmp_path):
    import keras

    from converter.sources import pyref

    layers = tmp_path / "layers.py"
    layers.write_text(_CUSTOM_LAYER)
    doubler = pyref.load_module(str(layers), "test").Doubler
    inputs = keras.Input((3,), name="x")
    path = tmp_path / "custom.keras"
    keras.Model(inputs, doubler(name="double")(inputs)).save(path)
    keras.saving.get_custom_objects().pop("graphtool_test>Doubler")  # as in a fresh process
    with pytest.raises(GraphtoolError, match=r"custom class .*pass --custom-objects file.py"):
        api.load(str(path))
    with pytest.raises(GraphtoolError, match=r"--custom-objects .*runs its code; pass --trust-code"):
        api.load(str(path), LoadOptions(custom_objects=str(layers)))
    assert_agrees(api.load(str(path), LoadOptions(custom_objects=str(layers), trust_code=True)))


@pytest.mark.slow
def test_subclassed_model_names_its_inputs():
    from matrix_models import subclassed

    with pytest.raises(GraphtoolError, match=r"pass --input NAME:DIMS\[:DTYPE\] for features \(e.g. --input features"):
        api.load(subclassed())
    with pytest.raises(GraphtoolError, match=r"--input x: the model has no input 'x'; its inputs are features"):
        api.load(subclassed(), LoadOptions(input_specs=("x:batch,5",)))
