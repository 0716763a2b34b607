"""The ONNX -> PyTorch converter (converter/targets/torch): numerics against onnxruntime, names, errors, round trips."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")


from converter.core.errors import MissingExtraError, UnsupportedOpError  # noqa: E402
from converter.targets.torch import to_graph_module  # noqa: E402

pytestmark = pytest.mark.slow
IR_VERSION = 10  # readable by onnxruntime releases older than this onnx
RTOL, ATOL = 1e-4, 1e-5


def _ort(model: onnx.ModelProto, *arrays: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, arrays, strict=True)))


def _ours(model: onnx.ModelProto, *arrays: np.ndarray):
    module = to_graph_module(model)
    with torch.no_grad():
        return module(*[torch.from_numpy(a) for a in arrays])


def _small_cnn(opset: int = 17) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weights = {
        "conv1.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "conv1.bias": rng.standard_normal(4).astype(np.float32),
        "fc/W:0": rng.standard_normal((5, 4 * 4 * 4)).astype(np.float32),
        "fc.bias": rng.standard_normal(5).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c"], name="/conv1/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="/Flatten"),
        helper.make_node("Gemm", ["f", "fc/W:0", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="/Softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "small_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", opset)])


def test_small_cnn_matches_onnxruntime_and_returns_outputs_in_graph_order() -> None:
    model = _small_cnn()
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    probs, logits = _ours(model, x)
    want_probs, want_logits = _ort(model, x)
    np.testing.assert_allclose(probs.numpy(), want_probs, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(logits.numpy(), want_logits, rtol=RTOL, atol=ATOL)


def test_single_output_is_a_tensor_not_a_tuple() -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"], name="add")], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
    )
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 17)])
    result = _ours(model, np.ones(3, np.float32), np.full(3, 2.0, np.float32))
    assert isinstance(result, torch.Tensor)
    assert result.tolist() == [3.0, 3.0, 3.0]


def test_weights_are_named_after_initializers_and_nodes_keep_onnx_names() -> None:
    module = to_graph_module(_small_cnn())
    params = dict(module.named_parameters())
    assert {"conv1_weight", "conv1_bias", "fc_W_0", "fc_bias"} <= set(params)
    assert not any(p.requires_grad for p in params.values())
    onnx_names = {n.meta.get("onnx_node") for n in module.graph.nodes if n.op == "call_function"}
    assert {"/conv1/Conv", "/relu/Relu", "/pool/MaxPool", "/fc/Gemm", "/Softmax"} <= onnx_names
    code = module.code
    assert "torch.conv2d" in code and "max_pool2d" in code and "torch.softmax" in code
    assert [n.name for n in module.graph.nodes if n.op == "placeholder"] == ["x"]


def test_unsupported_op_names_the_node_op_and_opset() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="ok"),
         helper.make_node("StringNormalizer", ["r"], ["y"], name="normalize_text")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOpError) as caught:
        to_graph_module(model)
    assert caught.value.node_name == "normalize_text"
    assert caught.value.op_type == "StringNormalizer"
    assert caught.value.opset == 17
    assert "normalize_text" in str(caught.value)


def test_unsupported_attribute_names_the_node() -> None:
    weight = numpy_helper.from_array(np.ones((1, 1, 2, 2, 2, 2), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv4d", kernel_shape=[2, 2, 2, 2])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 3, 3, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight],
    )
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOpError, match="conv4d.*4 spatial dims"):
        to_graph_module(model)


def test_custom_domain_op_is_unsupported() -> None:
    graph = helper.make_graph(
        [helper.make_node("FusedGemm", ["x"], ["y"], name="fused", domain="com.microsoft")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=opsets)
    with pytest.raises(UnsupportedOpError, match="fused"):
        to_graph_module(model)


def test_missing_torch_is_a_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"graphtool\[torch\]"):
        to_graph_module(_small_cnn())


@pytest.mark.parametrize(
    ("mode", "transform", "nearest_mode"),
    [("nearest", "asymmetric", "floor"), ("linear", "align_corners", "floor"),
     ("linear", "half_pixel", "floor"), ("nearest", "half_pixel", "round_prefer_floor"),
     ("cubic", "half_pixel", "floor")],
)
def test_resize_with_constant_scales_matches_onnxruntime(mode: str, transform: str, nearest_mode: str) -> None:
    scales = numpy_helper.from_array(np.array([1, 1, 2.0, 0.5], np.float32), "scales")
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="resize", mode=mode,
                            coordinate_transformation_mode=transform, nearest_mode=nearest_mode)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [scales],
    )
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 19)])
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 8)).astype(np.float32)
    np.testing.assert_allclose(_ours(model, x).numpy(), _ort(model, x)[0], rtol=RTOL, atol=ATOL)


def test_if_on_a_runtime_condition_and_a_loop() -> None:
    then_graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["t"])], "then", [], [helper.make_tensor_value_info("t", 1, [3])]
    )
    else_graph = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", 1, [3])]
    )
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Mul", ["acc", "y"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [3])],
    )
    trips = numpy_helper.from_array(np.array(3, np.int64), "trips")
    nodes = [
        helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_graph, else_branch=else_graph),
        helper.make_node("Loop", ["trips", "", "x"], ["z"], name="cube", body=body),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []), helper.make_tensor_value_info("x", 1, [3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [3])], [trips],
    )
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 17)])
    x = np.array([1.0, 2.0, -3.0], np.float32)
    for flag in (True, False):
        c = np.array(flag)
        np.testing.assert_allclose(_ours(model, c, x).numpy(), _ort(model, c, x)[0], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    ("name", "artifacts"), [("light_squeezenet", True), ("light_shufflenet", False), ("light_inception_v1", False)]
)
def test_light_cnn_with_random_weights_matches_onnxruntime(name: str, artifacts: bool) -> None:
    from converter.conformance import light as conformance
    result = conformance.compare_light(conformance.LIGHT_DIR / f"{name}.onnx", "torch", seed=3, artifacts=artifacts)
    assert result.ok, result
    assert sorted(result.artifacts) == (["pt2", "torchscript"] if artifacts else [])
    assert result.top1_equal
    assert result.logits_max_abs <= 1e-4 * result.logits_scale


class _Native(torch.nn.Module):
    """A small CNN + LSTM head, the kind of model users export from PyTorch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.lstm = torch.nn.LSTM(8, 6, batch_first=True)
        self.head = torch.nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.gelu(self.bn(self.conv(x)))
        y = torch.nn.functional.adaptive_avg_pool2d(y, (1, 4)).flatten(2).transpose(1, 2)
        out, _ = self.lstm(y)
        return torch.softmax(self.head(out[:, -1]), -1)


def test_pytorch_onnx_pytorch_round_trip_agrees(tmp_path) -> None:
    torch.manual_seed(0)
    native = _Native().eval()
    with torch.no_grad():
        native.bn.running_mean.uniform_(-0.5, 0.5)
        native.bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 16, 16)
    path = tmp_path / "native.onnx"
    torch.onnx.export(native, (x,), str(path), input_names=["x"], dynamic_axes={"x": {0: "batch"}},
                      opset_version=17, dynamo=False)
    module = to_graph_module(onnx.load(path))
    x5 = torch.randn(5, 3, 16, 16)
    with torch.no_grad():
        np.testing.assert_allclose(module(x5).numpy(), native(x5).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_backend_runs_on_cuda() -> None:
    from converter.backends.torch import prepare

    model = _small_cnn()
    x = np.random.default_rng(4).standard_normal((2, 3, 8, 8)).astype(np.float32)
    probs, logits = prepare(model, device="CUDA").run([x])
    want_probs, want_logits = _ort(model, x)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(probs, want_probs, rtol=1e-3, atol=1e-4)


class _Mixed(torch.nn.Module):
    """Ops exporters emit beyond plain CNNs: GroupNorm, interpolate, ConvTranspose, pixel shuffle,
    attention, masking, cumsum, topk and einsum."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.norm = torch.nn.GroupNorm(2, 8)
        self.up = torch.nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.qkv = torch.nn.Linear(4, 12)

    def forward(self, x: torch.Tensor):
        functional = torch.nn.functional
        y = functional.silu(self.norm(self.conv(x)))
        y = functional.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        y = functional.pixel_shuffle(self.up(functional.adaptive_avg_pool2d(y, (4, 4))), 2)
        tokens = y.reshape(y.shape[0], -1, 4)
        q, k, v = self.qkv(tokens).chunk(3, -1)
        attended = functional.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], is_causal=True)[:, 0]
        attended = torch.cumsum(attended.masked_fill(attended > 0.5, 0.0), 1)
        values, indices = torch.topk(attended.sum(-1), 3, dim=1)
        return values, indices, torch.einsum("bij,bkj->bik", attended, attended).amax(-1)


@pytest.mark.parametrize("dynamo", [False, True])
def test_exporter_ops_round_trip_with_dynamic_batch(dynamo: bool, tmp_path) -> None:
    from converter.targets.pt2 import write_pt2

    torch.manual_seed(0)
    native = _Mixed().eval()
    path = tmp_path / "mixed.onnx"
    x = torch.randn(2, 3, 16, 16)
    if dynamo:
        torch.onnx.export(native, (x,), str(path), input_names=["x"],
                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, dynamo=True)
    else:
        torch.onnx.export(native, (x,), str(path), input_names=["x"], dynamic_axes={"x": {0: "batch"}},
                          opset_version=17, dynamo=False)
    model = onnx.load(path)
    x3 = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        want = native(x3)
        got = to_graph_module(model)(x3)
    assert write_pt2(model, tmp_path / "mixed.pt2").dynamic_dims == {"x": [0]}
    with torch.no_grad():
        exported = tuple(torch.export.load(tmp_path / "mixed.pt2").module()(x3).values())
    for result in (got, exported):
        for actual, expected in zip(result, want, strict=True):
            np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)


def test_branch_using_an_outer_shape_value() -> None:
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    then_graph = helper.make_graph(
        [helper.make_node("Expand", ["one", "s"], ["t"])], "then", [], [helper.make_tensor_value_info("t", 1, None)]
    )
    else_graph = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", 1, None)]
    )
    graph = helper.make_graph(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("If", ["c"], ["y"], then_branch=then_graph, else_branch=else_graph)], "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [one],
    )
    model = helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", 17)])
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    for flag in (True, False):
        c = np.array(flag)
        np.testing.assert_allclose(_ours(model, c, x).numpy(), _ort(model, c, x)[0])
