"""The TFLite runner: where XNNPACK cannot prepare a model, the same answers from TFLite's builtin kernels."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from converter.targets.runners import BUILTIN_KERNELS, tflite_runner  # noqa: E402

pytestmark = pytest.mark.slow

FAILURE = "Node number 3 (TfLiteXNNPackDelegate) failed to prepare."


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A seeded Keras MLP, its .tflite file and the signature's input and output keys."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(4, name="y")(keras.layers.Dense(8, activation="tanh")(inputs)))
    path = tmp_path_factory.mktemp("tflite_runner") / "mlp.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    signature = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    (input_key,), (output_key,) = signature.get_input_details(), signature.get_output_details()
    return model, path, input_key, output_key


class _DelegateFails:
    """Stands in for tf.lite.Interpreter: with the default delegates, preparing (`allocate`) or running (`invoke`)
    fails as XNNPACK does; with the builtin kernels only, the real interpreter."""

    def __init__(self, where: str, real: type):
        self.where, self.real, self.delegated = where, real, 0

    def __call__(self, *args, **kwargs):
        interpreter = self.real(*args, **kwargs)
        if "experimental_op_resolver_type" in kwargs:
            return interpreter
        self.delegated += 1
        if self.where == "allocate":
            interpreter.allocate_tensors = _raises
        else:
            real_signature = interpreter.get_signature_runner
            interpreter.get_signature_runner = lambda key: _FailingSignature(real_signature(key))
        return interpreter


class _FailingSignature:
    """A signature runner whose details are the real ones and whose call fails as a delegate's invoke does."""

    def __init__(self, signature):
        self.get_input_details, self.get_output_details = signature.get_input_details, signature.get_output_details

    def __call__(self, **feeds):
        _raises()


def _raises(*args, **kwargs):
    raise RuntimeError(FAILURE)


@pytest.mark.parametrize("where", ["allocate", "invoke"])
def test_builtin_kernels_give_the_answers_xnnpack_could_not(model, where, monkeypatch):
    keras_model, path, input_key, output_key = model
    failing = _DelegateFails(where, tf.lite.Interpreter)
    monkeypatch.setattr(tf.lite, "Interpreter", failing)
    runner = tflite_runner(path, {"x": input_key}, {"y": output_key})
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    for _ in range(2):  # falls back once, then stays on the builtin kernels
        np.testing.assert_allclose(runner({"x": x})[0], keras_model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert failing.delegated == 1
    assert (BUILTIN_KERNELS in runner.name) == (where == "allocate")  # named where known before the first run


def test_other_errors_are_not_taken_for_a_delegate_failure(model, monkeypatch):
    _, path, input_key, output_key = model
    real = tf.lite.Interpreter

    def broken(*args, **kwargs):
        interpreter = real(*args, **kwargs)
        interpreter.allocate_tensors = lambda: (_ for _ in ()).throw(RuntimeError("tensor 0: bad shape"))
        return interpreter

    monkeypatch.setattr(tf.lite, "Interpreter", broken)
    with pytest.raises(RuntimeError, match="bad shape"):
        tflite_runner(path, {"x": input_key}, {"y": output_key})


def test_the_default_delegate_runs_where_it_can(model):
    keras_model, path, input_key, output_key = model
    runner = tflite_runner(path, {"x": input_key}, {"y": output_key})
    x = np.random.default_rng(2).standard_normal((3, 6)).astype(np.float32)
    assert runner.name == "TFLite interpreter"
    np.testing.assert_allclose(runner({"x": x})[0], keras_model(x).numpy(), rtol=1e-5, atol=1e-6)
