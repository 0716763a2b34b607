"""converter/targets/torchscript.py: scripted (or traced) modules saved atomically and loaded with torch.jit.load."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")

from converter.core.errors import UnsupportedOpError  # noqa: E402
from converter.targets.torchscript import write_torchscript  # noqa: E402

pytestmark = pytest.mark.slow
IR_VERSION = 10  # readable by onnxruntime releases older than this onnx


def _model(extra_nodes=(), opset: int = 17):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv.weight")
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c"], ["y"], name="act"), *extra_nodes]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 6, 6])],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)], [w],
    )
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", opset)])


def _reference(x: torch.Tensor, model) -> torch.Tensor:
    weight = torch.from_numpy(numpy_helper.to_array(model.graph.initializer[0]).copy())
    return torch.sigmoid(torch.nn.functional.conv2d(x, weight, padding=1))


def test_torchscript_is_scripted_and_loads_back(tmp_path) -> None:
    model = _model()
    result = write_torchscript(model, tmp_path / "m.ts")
    assert result.strategy == "script"
    loaded = torch.jit.load(tmp_path / "m.ts")
    x = torch.randn(3, 3, 6, 6)
    np.testing.assert_allclose(loaded(x)["y"].numpy(), _reference(x, model).numpy(), rtol=1e-5, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["m.ts"]


def test_torchscript_falls_back_to_trace_for_python_only_helpers(tmp_path) -> None:
    scales = helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32)))
    resize = helper.make_node("Resize", ["y", "", "s"], ["z"], name="up", mode="nearest",
                              coordinate_transformation_mode="half_pixel")
    model = _model([scales, resize], opset=19)
    result = write_torchscript(model, tmp_path / "m.ts")
    assert result.strategy == "trace" and result.fallbacks
    loaded = torch.jit.load(tmp_path / "m.ts")
    x = torch.randn(2, 3, 6, 6)
    want = torch.nn.functional.interpolate(_reference(x, model), scale_factor=2, mode="nearest-exact")
    np.testing.assert_allclose(loaded(x)["z"].numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_unsupported_op_writes_nothing(tmp_path) -> None:
    model = _model([helper.make_node("DeformConv", ["y", "y", "y"], ["z"], name="deform")])
    with pytest.raises(UnsupportedOpError, match="deform"):
        write_torchscript(model, tmp_path / "m.ts")
    assert list(tmp_path.iterdir()) == []


def _cond_model(then_tail=(), after=()):
    """y = relu(x) * 2 when mean(x) > 0, else -|x| - 1; `then_tail` and `after` append nodes after each."""
    def const(name, value):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(value, np.float32)))

    then_nodes = [const("two", 2.0), helper.make_node("Relu", ["x"], ["r"]),
                  helper.make_node("Mul", ["r", "two"], ["t"]), *then_tail]
    then_graph = helper.make_graph(then_nodes, "then", [], [helper.make_tensor_value_info(then_nodes[-1].output[0],
                                                                                          TensorProto.FLOAT, None)])
    else_graph = helper.make_graph(
        [const("one", 1.0), helper.make_node("Abs", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["n"]),
         helper.make_node("Sub", ["n", "one"], ["e"])],
        "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0), const("zero", 0.0),
             helper.make_node("Greater", ["m", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_graph, else_branch=else_graph),
             *after]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 3, 3])],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)])
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 18)])


def _resize(source: str, output: str) -> list:
    scales = helper.make_node("Constant", [], [f"{output}_s"],
                              value=numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32)))
    return [scales, helper.make_node("Resize", [source, "", f"{output}_s"], [output], mode="nearest",
                                     coordinate_transformation_mode="half_pixel")]


def _loop_model():
    """Adds x to acc while trips < n and sum(acc) < 20, scanning acc * i."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "x"], ["acc_out"]),
         helper.make_node("ReduceSum", ["acc_out"], ["total"], keepdims=0),
         helper.make_node("Constant", [], ["limit"], value=numpy_helper.from_array(np.array(20, np.float32))),
         helper.make_node("Less", ["total", "limit"], ["keep"]),
         helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["acc_out", "fi"], ["scanned"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("keep_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in
         (("keep", TensorProto.BOOL, []), ("acc_out", TensorProto.FLOAT, [3]), ("scanned", TensorProto.FLOAT, [3]))],
    )
    nodes = [helper.make_node("Constant", [], ["true"], value=numpy_helper.from_array(np.array(True))),
             helper.make_node("Loop", ["n", "true", "x"], ["acc_final", "ys"], name="loop", body=body)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("n", TensorProto.INT64, []),
                                           helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("acc_final", TensorProto.FLOAT, [3]),
                               helper.make_tensor_value_info("ys", TensorProto.FLOAT, None)])
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 18)])


def _scan_model():
    """Running sum over a sequence read back to front; outputs the final sum and each partial sum times two,
    also back to front."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "x_t"], ["s_out"]),
         helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2, np.float32))),
         helper.make_node("Mul", ["s_out", "two"], ["y_t"])],
        "body",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("s", "x_t")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("s_out", "y_t")],
    )
    scan = helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], name="scan", body=body, num_scan_inputs=1,
                            scan_input_directions=[1], scan_output_directions=[1])
    graph = helper.make_graph([scan], "g", [helper.make_tensor_value_info("s0", TensorProto.FLOAT, [2]),
                                            helper.make_tensor_value_info("xs", TensorProto.FLOAT, ["t", 2])],
                              [helper.make_tensor_value_info("s", TensorProto.FLOAT, [2]),
                               helper.make_tensor_value_info("ys", TensorProto.FLOAT, ["t", 2])])
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 18)])


def _nested_model():
    """While i < n: acc -= x when sum(acc) > 3, else acc += x (an If in a Loop with no trip count)."""
    then_graph = helper.make_graph([helper.make_node("Sub", ["acc", "x"], ["down"])], "then", [],
                                   [helper.make_tensor_value_info("down", TensorProto.FLOAT, [3])])
    else_graph = helper.make_graph([helper.make_node("Add", ["acc", "x"], ["up"])], "else", [],
                                   [helper.make_tensor_value_info("up", TensorProto.FLOAT, [3])])
    body = helper.make_graph(
        [helper.make_node("ReduceSum", ["acc"], ["total"], keepdims=0),
         helper.make_node("Constant", [], ["three"], value=numpy_helper.from_array(np.array(3, np.float32))),
         helper.make_node("Greater", ["total", "three"], ["big"]),
         helper.make_node("If", ["big"], ["acc_out"], name="step", then_branch=then_graph, else_branch=else_graph),
         helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.array(1, np.int64))),
         helper.make_node("Add", ["i", "one"], ["next"]),
         helper.make_node("Less", ["next", "n"], ["keep"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("keep_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("keep", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [3])],
    )
    nodes = [helper.make_node("Constant", [], ["true"], value=numpy_helper.from_array(np.array(True))),
             helper.make_node("Loop", ["", "true", "x"], ["acc_final"], name="loop", body=body)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("n", TensorProto.INT64, []),
                                           helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("acc_final", TensorProto.FLOAT, [3])])
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 18)])


def _check(model, path, feeds: list[dict[str, np.ndarray]]) -> None:
    """The TorchScript at `path` matches onnxruntime on each feed."""
    from converter.core.runners import ort_runner
    from converter.targets.runners import torchscript_runner

    expected, actual = ort_runner(model), torchscript_runner(path, list(feeds[0]))
    for feed in feeds:
        for got, want in zip(actual(feed), expected(feed), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _signed(sign: float, batch: int) -> dict[str, np.ndarray]:
    return {"x": (sign * np.abs(np.random.default_rng(batch).standard_normal((batch, 2, 3, 3)))).astype(np.float32)}


def test_if_is_scripted_and_branches_at_run_time(tmp_path) -> None:
    model = _cond_model()
    result = write_torchscript(model, tmp_path / "m.ts", example_inputs=[torch.ones(2, 2, 3, 3)])
    assert result.strategy == "script" and result.fixed_control_flow == ()
    _check(model, tmp_path / "m.ts", [_signed(1.0, 2), _signed(-1.0, 3)])


def test_loop_with_data_dependent_trips_is_scripted(tmp_path) -> None:
    model = _loop_model()
    result = write_torchscript(model, tmp_path / "m.ts")
    assert result.strategy == "script" and result.fixed_control_flow == ()
    x = np.array([1.0, 2.0, 0.5], np.float32)
    _check(model, tmp_path / "m.ts", [{"n": np.array(n, np.int64), "x": x} for n in (1, 2, 10)])


def test_if_nested_in_a_while_loop_is_scripted(tmp_path) -> None:
    model = _nested_model()
    result = write_torchscript(model, tmp_path / "m.ts")
    assert result.strategy == "script" and result.fixed_control_flow == ()
    x = np.array([1.0, 0.5, 0.25], np.float32)
    _check(model, tmp_path / "m.ts", [{"n": np.array(n, np.int64), "x": x} for n in (1, 2, 3, 7)])


def test_scan_is_scripted_at_any_sequence_length(tmp_path) -> None:
    model = _scan_model()
    result = write_torchscript(model, tmp_path / "m.ts")
    assert result.strategy == "script" and result.fixed_control_flow == ()
    rng = np.random.default_rng(0)
    feeds = [{"s0": rng.standard_normal(2).astype(np.float32), "xs": rng.standard_normal((t, 2)).astype(np.float32)}
             for t in (3, 5)]
    _check(model, tmp_path / "m.ts", feeds)


def test_trace_keeps_scripted_control_flow_around_python_only_helpers(tmp_path) -> None:
    model = _cond_model(after=_resize("y", "z"))
    result = write_torchscript(model, tmp_path / "m.ts", example_inputs=[torch.ones(2, 2, 3, 3)])
    assert result.strategy == "trace" and result.fixed_control_flow == ()
    _check(model, tmp_path / "m.ts", [_signed(1.0, 2), _signed(-1.0, 2)])


def test_branch_with_python_only_helpers_is_traced_inside_a_scripted_if(tmp_path) -> None:
    model = _cond_model(then_tail=_resize("t", "t2"))
    result = write_torchscript(model, tmp_path / "m.ts", example_inputs=[torch.ones(2, 2, 3, 3)])
    assert result.strategy == "trace" and result.fixed_control_flow == ()
    _check(model, tmp_path / "m.ts", [_signed(1.0, 2), _signed(-1.0, 2)])


def _loop_with_resize():
    """The Loop model with a third output: each trip's acc upsampled by a Resize (a helper that only traces)."""
    model = _loop_model()
    loop = model.graph.node[1]
    body = loop.attribute[0].g
    body.node.extend([helper.make_node("Unsqueeze", ["acc_out", "axis"], ["row"]),
                      helper.make_node("Resize", ["row", "", "scales"], ["wide"], mode="nearest")])
    body.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), "axis"),
                             numpy_helper.from_array(np.array([1, 2], np.float32), "scales")])
    body.output.append(helper.make_tensor_value_info("wide", TensorProto.FLOAT, None))
    loop.output.append("wides")
    model.graph.output.append(helper.make_tensor_value_info("wides", TensorProto.FLOAT, None))
    return model


def test_loop_body_with_python_only_helpers_is_traced_inside_a_scripted_loop(tmp_path) -> None:
    model = _loop_with_resize()
    example = [torch.tensor(3), torch.tensor([1.0, 2.0, 0.5])]
    result = write_torchscript(model, tmp_path / "m.ts", example_inputs=example)
    assert result.strategy == "trace" and result.fixed_control_flow == ()
    x = np.array([1.0, 2.0, 0.5], np.float32)
    _check(model, tmp_path / "m.ts", [{"n": np.array(n, np.int64), "x": x} for n in (1, 2, 10)])


def test_loop_body_that_never_ran_is_named_as_fixed(tmp_path) -> None:
    model = _loop_with_resize()
    example = [torch.tensor(0), torch.tensor([1.0, 2.0, 0.5])]
    result = write_torchscript(model, tmp_path / "m.ts", example_inputs=example)
    assert result.strategy == "trace" and result.fixed_control_flow == ("loop",)
