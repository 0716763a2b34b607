"""ONNX Loop to TorchScript and pt2: every conversion ends, converted and right, or refused with the Loop named."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")

from converter.core.deadline import deadline  # noqa: E402
from converter.core.errors import GraphtoolError  # noqa: E402
from converter.core.runners import ort_runner  # noqa: E402
from converter.targets.pt2 import write_pt2  # noqa: E402
from converter.targets.runners import pt2_runner, torchscript_runner  # noqa: E402
from converter.targets.torchscript import write_torchscript  # noqa: E402

pytestmark = pytest.mark.slow
IR_VERSION = 10
ENDS_WITHIN_S = 60  # a conversion that loops forever fails the test instead of hanging it


def _constant(name: str, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(value)))


def _halving_model(python_only_helper: bool = False, scanned: bool = False):
    """while max(x) > 1: x = x / 2 (the trip count depends on the data: TF's tf.while_loop as tf2onnx writes it).

    `python_only_helper`: the body also runs a Resize, which only traces, so the module is traced around its
    scripted loop. `scanned`: the body also stacks each trip's x (a scan output, whose size grows with the trips).
    """
    nodes = [_constant("two", np.float32(2)), _constant("one", np.float32(1)),
             helper.make_node("Div", ["acc", "two"], ["half"])]
    if python_only_helper:
        nodes += [helper.make_node("Resize", ["half", "", "scales"], ["acc_out"], mode="nearest")]
    else:
        nodes += [helper.make_node("Identity", ["half"], ["acc_out"])]
    nodes += [helper.make_node("ReduceMax", ["acc_out"], ["top"], keepdims=0),
              helper.make_node("Greater", ["top", "one"], ["keep"])]
    outputs = [helper.make_tensor_value_info("keep", TensorProto.BOOL, []),
               helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, ["batch", 3])]
    if scanned:
        nodes.append(helper.make_node("Identity", ["acc_out"], ["trip_value"]))
        outputs.append(helper.make_tensor_value_info("trip_value", TensorProto.FLOAT, ["batch", 3]))
    body = helper.make_graph(
        nodes, "halving",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("keep_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, ["batch", 3])],
        outputs, [numpy_helper.from_array(np.array([1, 1], np.float32), "scales")])
    loop_outputs = ["y", "trips"] if scanned else ["y"]
    graph = helper.make_graph(
        [helper.make_node("ReduceMax", ["x"], ["x_top"], keepdims=0), _constant("start", np.float32(1)),
         helper.make_node("Greater", ["x_top", "start"], ["go"]),
         helper.make_node("Loop", ["", "go", "x"], loop_outputs, name="halve_while_big", body=body)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in loop_outputs])
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 18)])


def _counted_model():
    """for i < 5: x = x * 0.5 + i (a trip count ONNX gives the Loop, the counter read in the body)."""
    body = helper.make_graph(
        [_constant("half", np.float32(0.5)), helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["acc", "half"], ["scaled"]), helper.make_node("Add", ["scaled", "fi"], ["acc_out"]),
         helper.make_node("Identity", ["keep_in"], ["keep"])],
        "counted",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("keep_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("keep", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, ["batch", 3])])
    graph = helper.make_graph(
        [_constant("trips", np.int64(5)), _constant("go", np.bool_(True)),
         helper.make_node("Loop", ["trips", "go", "x"], ["y"], name="counted_loop", body=body)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 18)])


def _feeds() -> list[dict[str, np.ndarray]]:
    """Two batch sizes, and scales that take the halving loop through no trip, a few, and many."""
    rng = np.random.default_rng(0)
    return [{"x": (scale * np.abs(rng.standard_normal((batch, 3)))).astype(np.float32)}
            for batch, scale in ((2, 0.1), (3, 10.0), (2, 1000.0))]


def _check(model, runner, feeds: list[dict[str, np.ndarray]]) -> None:
    expected = ort_runner(model)
    for feed in feeds:
        for got, want in zip(runner(feed), expected(feed), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("python_only_helper", [False, True], ids=["scripted", "traced-around"])
def test_a_data_dependent_loop_to_torchscript_ends_and_is_right(tmp_path, python_only_helper) -> None:
    model = _halving_model(python_only_helper)
    with deadline(ENDS_WITHIN_S, "the TorchScript conversion"):
        result = write_torchscript(model, tmp_path / "m.ts", example_inputs=[torch.full((2, 3), 8.0)])
    assert result.strategy == ("trace" if python_only_helper else "script")
    assert result.fixed_control_flow == ()
    _check(model, torchscript_runner(tmp_path / "m.ts", ["x"]), _feeds())


@pytest.mark.parametrize("build", [_halving_model, _counted_model], ids=["while", "counted"])
def test_a_loop_to_pt2_is_kept_as_a_while_loop(tmp_path, build) -> None:
    model = build()
    with deadline(ENDS_WITHIN_S, "the pt2 conversion"):
        result = write_pt2(model, tmp_path / "m.pt2", example_inputs=[torch.full((2, 3), 8.0)])
    assert result.dynamic_dims == {"x": [0]}
    program = torch.export.load(tmp_path / "m.pt2")
    looped = any("while_loop" in str(node.target) for node in program.graph.nodes)
    assert looped == (build is _halving_model)  # a trip count known when converting is unrolled instead
    _check(model, pt2_runner(tmp_path / "m.pt2", ["x"]), _feeds())


def test_a_loop_torch_export_cannot_keep_is_refused_naming_it(tmp_path) -> None:
    model = _halving_model(scanned=True)
    with deadline(ENDS_WITHIN_S, "the pt2 conversion"), pytest.raises(GraphtoolError) as refused:
        write_pt2(model, tmp_path / "m.pt2", example_inputs=[torch.full((2, 3), 8.0)])
    message = str(refused.value)
    assert "ONNX Loop 'halve_while_big'" in message and "scan" in message and "torchscript" in message
    assert "Reshape" not in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []
    write_torchscript(model, tmp_path / "m.ts", example_inputs=[torch.full((2, 3), 8.0)])  # the way it points to
    # a loop that never runs has scan outputs of unknown element shape (ScriptLoop's documented limit)
    _check(model, torchscript_runner(tmp_path / "m.ts", ["x"]), _feeds()[1:])
