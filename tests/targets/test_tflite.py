"""TFLite target: SavedModel -> .tflite, run with TensorFlow's interpreter, compared with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

tf = pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")

from test_savedmodel import _model  # noqa: E402

from converter.core.errors import GraphtoolError  # noqa: E402
from converter.core.runners import ort_runner  # noqa: E402
from converter.targets.runners import run_tflite  # noqa: E402
from converter.targets.savedmodel import write_savedmodel  # noqa: E402
from converter.targets.tflite import custom_ops, write_tflite  # noqa: E402

pytestmark = pytest.mark.slow


def test_tflite_matches_onnxruntime(tmp_path):
    model = _model()
    saved = write_savedmodel(model, tmp_path / "saved")
    result = write_tflite(saved.directory, tmp_path / "model.tflite")
    assert result.size_bytes == (tmp_path / "model.tflite").stat().st_size > 0
    assert not result.select_tf_ops
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    got = run_tflite(result.path, {"pixels_0": x})
    want = ort_runner(model)({"pixels:0": x})
    np.testing.assert_allclose(got["features_out"], want[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["pooled"], want[1], rtol=1e-4, atol=1e-5)


def _tflite_of(model, tmp_path):
    saved = write_savedmodel(model, tmp_path / "saved")
    return saved, write_tflite(saved.directory, tmp_path / "model.tflite")


def _ort(model, feeds: dict) -> list:
    return ort_runner(model)(feeds)


@pytest.mark.parametrize("name", ["mlp", "gru", "encoder"])
def test_torch_fixture_converts_to_builtin_tflite(name, tmp_path):
    """GELU's Erf and the GRU's loop once needed Select TF ops, which this interpreter cannot run."""
    pytest.importorskip("torch")
    from converter.api import convert

    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "torch" / f"{name}.pt2"
    result = convert(fixture, "tflite", tmp_path / f"{name}.tflite")
    assert result, result.report
    assert result.artifact["select_tf_ops"] is False


def _recurrent(op: str, gates: int) -> onnx.ModelProto:
    rng = np.random.default_rng(4)
    hidden, size = 5, 3
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.4, (2, gates * hidden, size)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(0, 0.4, (2, gates * hidden, hidden)).astype(np.float32), "R"),
        numpy_helper.from_array(rng.normal(0, 0.4, (2, 2 * gates * hidden)).astype(np.float32), "B"),
    ]
    node = helper.make_node(
        op, ["x", "W", "R", "B", "lengths"], ["Y", "Y_h"], hidden_size=hidden, direction="bidirectional"
    )
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "N", size]),
        helper.make_tensor_value_info("lengths", TensorProto.INT32, ["N"]),
    ]
    outputs = [
        helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 2, "N", hidden]),
        helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [2, "N", hidden]),
    ]
    graph = helper.make_graph([node], "recurrent", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


@pytest.mark.parametrize("op, gates", [("GRU", 3), ("LSTM", 4), ("RNN", 1)])
def test_recurrent_layer_is_builtin_with_dynamic_length_and_batch(op, gates, tmp_path):
    model = _recurrent(op, gates)
    saved, result = _tflite_of(model, tmp_path)
    assert not result.select_tf_ops
    rng = np.random.default_rng(5)
    for steps, batch in [(6, 3), (11, 2)]:
        x = rng.standard_normal((steps, batch, 3)).astype(np.float32)
        lengths = rng.integers(1, steps + 1, batch).astype(np.int32)
        got = run_tflite(result.path, {saved.inputs["x"]: x, saved.inputs["lengths"]: lengths})
        want = _ort(model, {"x": x, "lengths": lengths})
        np.testing.assert_allclose(got[saved.outputs["Y"]], want[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got[saved.outputs["Y_h"]], want[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_op_is_builtin(approximate, tmp_path):
    node = helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)
    graph = helper.make_graph(
        [node],
        "gelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    saved, result = _tflite_of(model, tmp_path)
    assert not result.select_tf_ops
    x = np.linspace(-6, 6, 64, dtype=np.float32).reshape(4, 16)
    got = run_tflite(result.path, {saved.inputs["x"]: x})[saved.outputs["y"]]
    np.testing.assert_allclose(got, _ort(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["squeezenet", "inception_v2"])
def test_light_cnn_tflite_matches_onnxruntime(name):
    """Seeded random weights (the given 0.02s make a uniform softmax that hides errors); logits checked too."""
    from converter.conformance import light as conformance
    result = conformance.compare_light(conformance.LIGHT_DIR / f"light_{name}.onnx", "tf", artifacts=True)
    assert result.ok, result  # builtin ops only, every output within 1e-4 of the logits' scale
    assert sorted(result.artifacts) == ["savedmodel", "tflite"]
    assert max(result.artifacts.values()) <= 1e-4 * result.logits_scale


def _unary(tmp_path, *ops: str) -> Path:
    """An ONNX file chaining the given elementwise ops on one float input."""
    names = ["x", *[f"t{index}" for index in range(len(ops) - 1)], "y"]
    nodes = [helper.make_node(op, [names[index]], [names[index + 1]]) for index, op in enumerate(ops)]
    graph = helper.make_graph(
        nodes,
        "unary",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16])],
    )
    path = tmp_path / f"{'_'.join(ops).lower()}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_flex_op_is_refused_by_the_cli_naming_it_and_writing_nothing(cli, tmp_path):
    """Erf alone has no TFLite builtin: kept as FlexErf, which the plain interpreter cannot run."""
    source = _unary(tmp_path, "Erf")
    result = cli("convert", source, "--to", "tflite", "-o", tmp_path / "model.tflite")
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())  # the console wraps long lines
    assert "TFLite interpreter cannot run: Erf (FlexErf)" in message
    assert "--to savedmodel" in message
    assert sorted(path.name for path in tmp_path.iterdir()) == [source.name]  # nothing staged is left


def test_flex_op_is_refused_by_the_api_before_an_existing_file_is_touched(tmp_path):
    from converter.api import convert

    source = _unary(tmp_path, "Erf", "Sinh")
    existing = tmp_path / "model.tflite"
    existing.write_bytes(b"kept")
    with pytest.raises(GraphtoolError, match=r"cannot run: Erf \(FlexErf\)") as raised:
        convert(source, "tflite", existing, force=True)
    assert "\n" not in str(raised.value)
    assert existing.read_bytes() == b"kept"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([source.name, existing.name])


def test_op_without_any_tflite_kernel_is_refused_naming_it(tmp_path):
    """Asin is neither a builtin nor a Select TF op: one line naming it, not the converter's MLIR dump."""
    source = _unary(tmp_path, "Erf", "Asin", "Acos")
    saved = write_savedmodel(onnx.load(source), tmp_path / "saved")
    with pytest.raises(GraphtoolError, match="Select TF ops have: Acos, Asin; nothing was written") as raised:
        write_tflite(saved.directory, tmp_path / "model.tflite")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "model.tflite").exists()


def test_custom_ops_lists_a_flatbuffers_flex_ops(tmp_path):
    saved = write_savedmodel(onnx.load(_unary(tmp_path, "Erf")), tmp_path / "saved")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved.directory))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    assert custom_ops(converter.convert()) == ("FlexErf",)
