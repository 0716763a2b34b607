"""TFLite in fp16, int8-dynamic and int8: size, agreement with the float build, int8 I/O, layers kept in float."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from converter import sources  # noqa: E402
from converter.core.errors import GraphtoolError  # noqa: E402
from converter.core.precision import PrecisionRequest  # noqa: E402
from converter.targets.artifacts import TARGETS  # noqa: E402
from converter.targets.precision.tflite import locate_tflite, write_tflite_precision  # noqa: E402

pytestmark = pytest.mark.slow

SHAPE = (32, 32, 3)


def _classifier() -> keras.Model:
    """A small CNN trained for a moment on `_images`: its argmax follows the input by a trained model's margins."""
    keras.utils.set_random_seed(0)
    image = keras.Input(SHAPE, name="image")
    x = image
    for filters, stride in ((32, 2), (64, 2)):
        x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same")(x)
        x = keras.layers.BatchNormalization(momentum=0.0)(x)  # the moving statistics: the last batch's
        x = keras.layers.ReLU(6.0)(x)
        x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
        x = keras.layers.BatchNormalization(momentum=0.0)(x)
        x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    model = keras.Model(image, keras.layers.Dense(10, name="logits")(x))
    images, labels = _dataset(1, 512)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, epochs=2, batch_size=64, verbose=0)
    model(images, training=True)  # the moving statistics of all 512
    return model


def _dataset(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Images of 10 classes: each a fixed coarse random pattern (the same for every seed) under noise."""
    patterns = np.random.default_rng(99).standard_normal((10, 8, 8, 3)).repeat(4, axis=1).repeat(4, axis=2)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    return (patterns[labels] + 1.5 * rng.standard_normal((count, *SHAPE))).astype(np.float32), labels


def _images(seed: int, count: int) -> np.ndarray:
    return _dataset(seed, count)[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The classifier loaded through graphtool, its float .tflite, calibration and held-out inputs."""
    folder = tmp_path_factory.mktemp("tflite_precision")
    _classifier().save(folder / "classifier.keras")
    loaded = sources.load(str(folder / "classifier.keras"))
    name = loaded.model.graph.input[0].name
    details = TARGETS["tflite"].write(loaded, folder / "float.tflite", False)
    held_out = {name: _images(7, 200)}
    calibration = tuple({name: _images(seed, 32)} for seed in (11, 12, 13, 14))
    expected = _run(loaded, folder / "float.tflite", details, held_out)
    assert len(set(expected.argmax(1))) >= 5, "the float model's argmax must depend on its input"
    return {"loaded": loaded, "folder": folder, "float": details, "held_out": held_out, "calibration": calibration,
            "expected": expected}


@pytest.fixture(scope="module")
def int8(built):
    """The calibrated int8 build with float I/O: (path, details, outputs on the held-out inputs)."""
    return _build(built, "int8")


def _run(loaded, path: Path, details: dict, feeds: dict) -> np.ndarray:
    return TARGETS["tflite"].runner(path, loaded, details)(feeds)[0]


def _build(built, precision: str, io_types: str = "float", keep_float: tuple[str, ...] = ()):
    request = PrecisionRequest(precision, io_types, built["calibration"], keep_float)
    path = built["folder"] / f"{precision}-{io_types}-{len(keep_float)}.tflite"
    details = write_tflite_precision(built["loaded"], path, False, request)
    return path, details, _run(built["loaded"], path, details, built["held_out"])


def _agreement(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean(got.argmax(1) == want.argmax(1)))


def _relative_rms(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.sqrt(np.mean((got - want) ** 2) / np.mean(want ** 2)))


def _tensors(path: Path) -> list[dict]:
    return tf.lite.Interpreter(model_path=str(path)).get_tensor_details()


def test_int8_is_small_and_agrees(built, int8):
    path, details, got = int8
    assert details["size_bytes"] == path.stat().st_size <= 0.3 * built["float"]["size_bytes"]
    assert details["precision"] == "int8" and details["ops"] == "int8 builtins only"
    assert details["inputs"] == built["float"]["inputs"] and details["outputs"] == built["float"]["outputs"]
    assert _agreement(got, built["expected"]) >= 0.99
    assert _relative_rms(got, built["expected"]) < 0.05
    assert any(tensor["dtype"] == np.int8 for tensor in _tensors(path))


def test_fp16_is_half_and_close(built):
    path, details, got = _build(built, "fp16")
    assert 0.4 <= details["size_bytes"] / built["float"]["size_bytes"] <= 0.6
    assert _relative_rms(got, built["expected"]) < 1e-2
    assert any(tensor["dtype"] == np.float16 for tensor in _tensors(path))


def test_int8_dynamic_runs(built):
    path, details, got = _build(built, "int8-dynamic")
    assert details["size_bytes"] <= 0.3 * built["float"]["size_bytes"]
    assert _agreement(got, built["expected"]) >= 0.99


def test_native_io_is_int8_and_the_runner_answers_in_float(built):
    path, details, got = _build(built, "int8", "native")
    signature = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    assert [detail["dtype"] for detail in signature.get_input_details().values()] == [np.int8]
    assert [detail["dtype"] for detail in signature.get_output_details().values()] == [np.int8]
    assert set(details["input_quantization"]) == set(signature.get_input_details())
    assert got.dtype == np.float32
    assert _agreement(got, built["expected"]) >= 0.99
    assert _relative_rms(got, built["expected"]) < 0.1


@pytest.mark.parametrize(("request_", "message"), [
    (PrecisionRequest("int8"), "--precision int8 needs --calibration DATA.npz"),
    (PrecisionRequest("int8", calibration=({"pixels": np.zeros((1, *SHAPE), np.float32)},)),
     "batch 0 lacks the model input"),
    (PrecisionRequest("fp16", "native"), "keeps float32 inputs and outputs"),
    (PrecisionRequest("int8-dynamic", keep_float=("Mean",)), "only in a --precision int8 build"),
    (PrecisionRequest("bf16"), "expected one of fp16, int8-dynamic, int8"),
], ids=["no-calibration", "calibration-names", "fp16-native", "dynamic-keep-float", "bf16"])
def test_impossible_requests_are_refused(built, tmp_path, request_, message):
    with pytest.raises(GraphtoolError, match=message):
        write_tflite_precision(built["loaded"], tmp_path / "model.tflite", False, request_)
    assert not (tmp_path / "model.tflite").exists()


def test_located_layer_kept_float_stays_float(built, int8):
    feeds = {name: value[:8] for name, value in built["held_out"].items()}
    layers = locate_tflite(built["loaded"], PrecisionRequest("int8", calibration=built["calibration"]), feeds)
    assert layers and all(a.introduced >= b.introduced for a, b in zip(layers, layers[1:], strict=False))
    worst = layers[0].name
    assert {tensor["dtype"] for tensor in _tensors(int8[0]) if tensor["name"] == worst} == {np.int8}
    path, details, got = _build(built, "int8", keep_float=(worst,))
    assert details["kept_float"] == [worst]
    assert {tensor["dtype"] for tensor in _tensors(path) if tensor["name"] == worst} == {np.float32}
    assert _agreement(got, built["expected"]) >= 0.99
    again = locate_tflite(built["loaded"], PrecisionRequest("int8", calibration=built["calibration"],
                                                            keep_float=(worst,)), feeds)
    assert worst not in {layer.name for layer in again}


def test_fp16_has_no_layers_to_locate(built):
    assert locate_tflite(built["loaded"], PrecisionRequest("fp16"), built["held_out"]) == []
