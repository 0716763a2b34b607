"""--inputs gives values, not a shape: a model converted at batch 1 runs at batch 2 and 3 in every format."""

from __future__ import annotations

import numpy as np
import pytest

from converter.core.types import LoadOptions
from converter.pipelines import convert as pipeline

pytestmark = pytest.mark.slow
TARGETS = ("onnx", "savedmodel", "pt2", "torchscript")
SUFFIX = {"onnx": ".onnx", "savedmodel": "", "pt2": ".pt2", "torchscript": ".ts"}

TORCH_FACTORY = '''
import torch


def model():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                 torch.nn.Flatten(), torch.nn.Linear(4, 5))
    return module, (torch.randn(1, 3, 8, 8),)
'''


def _run(target: str, path, x: np.ndarray) -> np.ndarray:
    """The artifact loaded and run as its own framework does, on one input."""
    if target == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path))
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    if target == "savedmodel":
        import tensorflow as tf

        serving = tf.saved_model.load(str(path)).signatures["serving_default"]
        (key,) = serving.structured_input_signature[1]
        return next(iter(serving(**{key: tf.constant(x)}).values())).numpy()
    import torch

    module = torch.export.load(str(path)).module() if target == "pt2" else torch.jit.load(str(path))
    with torch.no_grad():
        result = module(torch.from_numpy(x))
    return next(iter(result.values())).numpy() if isinstance(result, dict) else result.numpy()


@pytest.fixture(scope="module")
def torch_source(tmp_path_factory):
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("torch_batch")
    (folder / "cnn.py").write_text(TORCH_FACTORY)
    np.savez(folder / "data.npz", x=np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype("float32"))
    namespace: dict = {}
    exec(TORCH_FACTORY, namespace)  # the same seeded module, to compute what every batch should give
    module = namespace["model"]()[0].eval()

    def expected(x):
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return f"{folder / 'cnn.py'}:model", folder / "data.npz", expected, folder


@pytest.fixture(scope="module")
def keras_source(tmp_path_factory):
    keras = pytest.importorskip("keras")
    folder = tmp_path_factory.mktemp("keras_batch")
    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 3), name="image")
    hidden = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image))
    model = keras.Model(image, keras.layers.Dense(5)(hidden))
    model.save(folder / "model.keras")
    np.savez(folder / "data.npz", image=np.random.default_rng(0).standard_normal((1, 8, 8, 3)).astype("float32"))
    return str(folder / "model.keras"), folder / "data.npz", lambda x: np.asarray(model(x, training=False)), folder


def _shape_of(x_shape, batch: int) -> tuple[int, ...]:
    return (batch, *x_shape[1:])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("which", ["torch_source", "keras_source"])
def test_converted_at_batch_one_runs_at_batch_two_and_three(which, target, request):
    source, data, expected, folder = request.getfixturevalue(which)
    path = folder / f"model_{target}{SUFFIX[target]}"
    result = pipeline.convert_source(source, target, path, LoadOptions(inputs_file=data), force=True)
    assert result, result.report.to_dict() if result.report else result
    tried = {size for sample in result.report.samples for size in sample.sizes.values()}
    assert 1 in tried and tried - {1}, tried  # the given batch, and another made from the data
    labels = [sample.label for sample in result.report.samples]
    assert any("sliced or tiled" in label and "batch=" in label for label in labels), labels
    x_shape = np.load(data)[next(iter(np.load(data).files))].shape
    rng = np.random.default_rng(3)
    for batch in (2, 3):
        x = rng.standard_normal(_shape_of(x_shape, batch)).astype("float32")
        got = _run(target, path, x)
        assert got.shape == (batch, 5)
        np.testing.assert_allclose(got, expected(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_static_keeps_the_datas_shape_and_another_batch_raises(torch_source, target):
    source, data, _, folder = torch_source
    path = folder / f"static_{target}{SUFFIX[target]}"
    result = pipeline.convert_source(source, target, path, LoadOptions(inputs_file=data, static=True), force=True)
    assert result
    assert all(sample.sizes == {} for sample in result.report.samples)  # no dim left to vary
    x = np.random.default_rng(4).standard_normal((1, 3, 8, 8)).astype("float32")
    assert _run(target, path, x).shape == (1, 5)
    with pytest.raises(Exception):  # noqa: B017 - each runtime raises its own kind; never a partial result
        _run(target, path, np.concatenate([x, x]))


def test_a_model_that_holds_only_at_the_datas_batch_is_captured_static_with_a_note(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "flat.py").write_text(
        "import torch\n\n\nclass Flat(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.linear = torch.nn.Linear(12, 2)\n\n    def forward(self, x):\n"
        "        return self.linear(x.reshape(-1))\n\n\ndef model():\n    torch.manual_seed(0)\n"
        "    return Flat(), (torch.randn(1, 12),)\n")
    np.savez(tmp_path / "data.npz", x=np.ones((1, 12), "float32"))
    result = pipeline.convert_source(f"{tmp_path / 'flat.py'}:model", "onnx", tmp_path / "flat.onnx",
                                     LoadOptions(inputs_file=tmp_path / "data.npz"), force=True)
    assert result
    assert any("input x dim 0 (batch) fixed at the size of the --inputs data" in n for n in result.source.notes)
