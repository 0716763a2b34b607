"""converter/targets/pt2.py: ExportedProgram files with symbolic ONNX dims kept dynamic, written atomically."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")

from converter.core.errors import GraphtoolError, UnsupportedOpError  # noqa: E402
from converter.targets.pt2 import write_pt2  # noqa: E402

pytestmark = pytest.mark.slow
IR_VERSION = 10  # readable by onnxruntime releases older than this onnx


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(y.reshape(y.shape[0], -1))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[torch.nn.Module, onnx.ModelProto]:
    torch.manual_seed(0)
    net = _Net().eval()
    path = tmp_path_factory.mktemp("pt2") / "net.onnx"
    torch.onnx.export(net, (torch.randn(2, 3, 8, 8),), str(path), input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}}, opset_version=17, dynamo=False)
    return net, onnx.load(path)


def test_pt2_loads_back_and_keeps_the_batch_dim_dynamic(exported, tmp_path) -> None:
    net, model = exported
    result = write_pt2(model, tmp_path / "net.pt2")
    assert result.strategy == "dynamic"
    assert result.dynamic_dims == {"x": [0]}
    assert result.size_bytes > 0 and result.to_dict()["path"].endswith("net.pt2")
    module = torch.export.load(tmp_path / "net.pt2").module()
    for batch in (1, 5):
        x = torch.randn(batch, 3, 8, 8)
        with torch.no_grad():
            (got,) = module(x).values()
            np.testing.assert_allclose(got.numpy(), net(x).numpy(), rtol=1e-4, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt2"]


def test_pt2_refuses_to_overwrite_without_force(exported, tmp_path) -> None:
    _, model = exported
    target = tmp_path / "net.pt2"
    target.write_bytes(b"keep me")
    with pytest.raises(GraphtoolError, match="already exists"):
        write_pt2(model, target)
    assert target.read_bytes() == b"keep me"
    write_pt2(model, target, force=True)
    assert target.read_bytes() != b"keep me"


def test_unsupported_op_writes_nothing(tmp_path) -> None:
    graph = helper.make_graph(
        [helper.make_node("StringNormalizer", ["x"], ["y"], name="text")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOpError, match="text"):
        write_pt2(model, tmp_path / "bad.pt2")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_is_raised_from_torchs_own_exception(exported, tmp_path, monkeypatch) -> None:
    _, model = exported
    refusals: list[RuntimeError] = []

    def refuse(*args, **kwargs):
        refusals.append(RuntimeError(f"refusal {len(refusals) + 1}"))
        raise refusals[-1]

    monkeypatch.setattr(torch.export, "export", refuse)
    with pytest.raises(GraphtoolError, match="could not capture the converted module: dynamic: .*refusal 1") as caught:
        write_pt2(model, tmp_path / "net.pt2")
    assert len(refusals) == 3 and caught.value.__cause__ is refusals[0]  # the first strategy's, for --debug
    assert list(tmp_path.iterdir()) == []


def test_static_graph_exports_with_inputs_in_graph_order(tmp_path) -> None:
    bias = numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "bias")
    graph = helper.make_graph(
        [helper.make_node("Sub", ["a", "b"], ["d"], name="sub"), helper.make_node("Add", ["d", "bias"], ["y"])],
        "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [bias],
    )
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 17)])
    assert write_pt2(model, tmp_path / "sub.pt2").strategy == "static"
    module = torch.export.load(tmp_path / "sub.pt2").module()
    assert module(torch.tensor([5.0, 5.0]), torch.tensor([1.0, 2.0]))["y"].tolist() == [5.0, 5.0]


class _Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 16)
        layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embed(ids)).mean(1)


def test_transformer_exported_by_dynamo_keeps_batch_and_sequence_dynamic(tmp_path) -> None:
    torch.manual_seed(0)
    native = _Encoder().eval()
    path = tmp_path / "encoder.onnx"
    dims = {"ids": {0: torch.export.Dim("batch"), 1: torch.export.Dim("seq")}}
    torch.onnx.export(native, (torch.randint(0, 50, (2, 7)),), str(path), input_names=["ids"],
                      dynamic_shapes=dims, dynamo=True)
    result = write_pt2(onnx.load(path), tmp_path / "encoder.pt2")
    assert result.dynamic_dims == {"ids": [0, 1]}
    module = torch.export.load(tmp_path / "encoder.pt2").module()
    ids = torch.randint(0, 50, (3, 11))
    with torch.no_grad():
        (got,) = module(ids).values()
        np.testing.assert_allclose(got.numpy(), native(ids).numpy(), rtol=1e-4, atol=1e-5)


def test_sizes_used_as_slice_range_and_expand_bounds_stay_dynamic(tmp_path) -> None:
    """position_ids[:, :seq] + arange(seq), expanded to the batch: the pattern of transformer embeddings."""
    table = numpy_helper.from_array(np.arange(32, dtype=np.int64).reshape(1, 32) * 10, "table")
    consts = [numpy_helper.from_array(np.array(v, dtype=np.int64), n)
              for n, v in [("zero", [0]), ("one", [1]), ("zero_s", 0), ("one_s", 1)]]
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "one_s"], ["seq_s"], axis=0),
        helper.make_node("Unsqueeze", ["seq_s", "zero"], ["seq"]),
        helper.make_node("Slice", ["table", "zero", "seq", "one", "one"], ["positions"]),
        helper.make_node("Range", ["zero_s", "seq_s", "one_s"], ["steps"]),
        helper.make_node("Add", ["positions", "steps"], ["summed"]),
        helper.make_node("Expand", ["summed", "shape"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "embeddings", [helper.make_tensor_value_info("x", TensorProto.INT64, ["b", "s"])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, ["b", "s"])], [table, *consts])
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 18)])
    result = write_pt2(model, tmp_path / "embeddings.pt2")
    assert result.strategy in ("dynamic", "auto") and result.dynamic_dims == {"x": [0, 1]}
    module = torch.export.load(tmp_path / "embeddings.pt2").module()
    for batch, seq in [(3, 5), (1, 9)]:
        got = module(torch.zeros(batch, seq, dtype=torch.int64))["y"].numpy()
        np.testing.assert_array_equal(got, np.broadcast_to(np.arange(seq) * 11, (batch, seq)))


def test_tf2onnx_shape_arithmetic_stays_dynamic(tmp_path) -> None:
    """What tf2onnx writes for Keras: tf.slice's ends (begin + size + (size == -1) * INT_MAX), an einsum's
    flattening (ReduceProd of sizes, Max of two batch dims) and a causal mask's Range over a float length."""
    import onnxruntime as ort

    consts = [numpy_helper.from_array(np.array(v, dtype=dtype), name) for name, v, dtype in [
        ("front", [0, 1], np.int64), ("first", [0], np.int64), ("second", [1], np.int64), ("one_s", 1, np.int64),
        ("minus_one", [-1], np.int64), ("four", [4], np.int64), ("begin", [0, 0], np.int64),
        ("largest", [2147483647], np.int64), ("zero_f", 0.0, np.float32), ("one_f", 1.0, np.float32)]]
    table = numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(16, 4), "table")
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Shape", ["y"], ["shape_y"]),
        helper.make_node("Gather", ["shape", "front"], ["leading"], axis=0),
        helper.make_node("ReduceProd", ["leading"], ["rows"], keepdims=1),
        helper.make_node("Concat", ["rows", "minus_one"], ["flat_shape"], axis=0),
        helper.make_node("Add", ["x", "y"], ["summed"]),
        helper.make_node("Reshape", ["summed", "flat_shape"], ["flat"]),
        helper.make_node("Gather", ["shape", "first"], ["batch_x"], axis=0),
        helper.make_node("Gather", ["shape_y", "first"], ["batch_y"], axis=0),
        helper.make_node("Max", ["batch_x", "batch_y"], ["batch"]),
        helper.make_node("Concat", ["batch", "minus_one", "four"], ["back_shape"], axis=0),
        helper.make_node("Reshape", ["flat", "back_shape"], ["back"]),
        helper.make_node("Gather", ["shape", "second"], ["seq"], axis=0),
        helper.make_node("Concat", ["seq", "four"], ["size"], axis=0),
        helper.make_node("Equal", ["size", "minus_one"], ["unsized"]),
        helper.make_node("Cast", ["unsized"], ["unsized_int"], to=TensorProto.INT64),
        helper.make_node("Mul", ["unsized_int", "largest"], ["open_end"]),
        helper.make_node("Add", ["size", "open_end"], ["length"]),
        helper.make_node("Add", ["begin", "length"], ["ends"]),
        helper.make_node("Slice", ["table", "begin", "ends"], ["positions"]),
        helper.make_node("Gather", ["shape", "one_s"], ["seq_s"], axis=0),
        helper.make_node("Cast", ["seq_s"], ["seq_f"], to=TensorProto.FLOAT),
        helper.make_node("Range", ["zero_f", "seq_f", "one_f"], ["steps"]),
        helper.make_node("Unsqueeze", ["steps", "second"], ["column"]),
        helper.make_node("Add", ["back", "positions"], ["placed"]),
        helper.make_node("Add", ["placed", "column"], ["out"]),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", "s", 4]) for n in ("x", "y")]
    graph = helper.make_graph(nodes, "keras_shapes", inputs,
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", "s", 4])],
                              [table, *consts])
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 17)])
    from converter.targets.torchscript import write_torchscript

    result = write_pt2(model, tmp_path / "shapes.pt2")
    assert result.dynamic_dims == {"x": [0, 1], "y": [0, 1]}
    write_torchscript(model, tmp_path / "shapes.ts")  # the same sizes as 0-d tensors in a trace
    modules = [torch.export.load(tmp_path / "shapes.pt2").module(), torch.jit.load(str(tmp_path / "shapes.ts"))]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for batch, seq in [(3, 5), (1, 9)]:
        x, y = (rng.standard_normal((batch, seq, 4)).astype(np.float32) for _ in range(2))
        for module in modules:
            got = module(torch.from_numpy(x), torch.from_numpy(y))["out"].numpy()
            np.testing.assert_allclose(got, session.run(None, {"x": x, "y": y})[0], rtol=1e-6, atol=1e-6)
