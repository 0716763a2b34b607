"""converter/targets/torchscript.py: scripted (or traced) modules saved atomically and loaded with torch.jit.load."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")

from converter.errors import UnsupportedOpError  # noqa: E402
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
    np.testing.assert_allclose(loaded(x).numpy(), _reference(x, model).numpy(), rtol=1e-5, atol=1e-6)
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
    np.testing.assert_allclose(loaded(x).numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_unsupported_op_writes_nothing(tmp_path) -> None:
    model = _model([helper.make_node("DeformConv", ["y", "y", "y"], ["z"], name="deform")])
    with pytest.raises(UnsupportedOpError, match="deform"):
        write_torchscript(model, tmp_path / "m.ts")
    assert list(tmp_path.iterdir()) == []
