"""SavedModel and pt2 in fp16 and bf16: half weights and compute, float32 I/O, close to the float source."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from converter.core.errors import GraphtoolError
from converter.core.precision import PrecisionRequest
from converter.targets.artifacts import TARGETS
from converter.targets.precision import build_for
from converter.targets.precision.half_graph import half_graph

MIN_COSINE = {"fp16": 0.999, "bf16": 0.99}
HALF_NAMES = {"fp16": "float16", "bf16": "bfloat16"}
SUFFIX = {"savedmodel": "", "pt2": ".pt2"}


def _cnn():
    import torch

    class Cnn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.depthwise = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.fc = torch.nn.Linear(8 * 8 * 8, 10)

        def forward(self, image):
            x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(image))), 2)
            return self.fc(torch.relu(self.depthwise(x)).flatten(1))

    module = Cnn().eval()
    with torch.no_grad():
        module.bn.running_mean.uniform_(-0.5, 0.5)
        module.bn.running_var.uniform_(0.5, 2.0)
    return module, torch.randn(2, 3, 16, 16), "image:batch,3,16,16"


def _block():
    import torch

    class Block(torch.nn.Module):
        def __init__(self, width=32):
            super().__init__()
            self.qkv = torch.nn.Linear(width, 3 * width)
            self.norm = torch.nn.LayerNorm(width)
            self.up = torch.nn.Linear(width, 64)
            self.down = torch.nn.Linear(64, width)

        def forward(self, tokens):
            q, k, v = self.qkv(tokens).chunk(3, dim=-1)
            attended = torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, dim=-1) @ v
            x = self.norm(tokens + attended)
            return x + self.down(torch.nn.functional.gelu(self.up(x)))

    return Block().eval(), torch.randn(2, 5, 32), "tokens:batch,5,32"


@pytest.fixture(scope="module")
def models():
    """Each model as graphtool loads it from torch, with a dynamic batch."""
    import torch

    from converter.sources import load

    built = {}
    for name, factory in (("cnn", _cnn), ("block", _block)):
        torch.manual_seed(0)
        module, example, spec = factory()
        built[name] = load((module, (example,)), input_specs=[spec])
    return built


def _feeds(loaded, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    return {name: rng.standard_normal((batch, *value.shape[1:])).astype(np.float32)
            for name, value in loaded.example_inputs.items()}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _write(loaded, target: str, request: PrecisionRequest, folder):
    path = folder / f"{target}_{request.precision}{SUFFIX[target]}"
    details = build_for(target, request.precision).writer()(loaded, path, False, request)
    return path, details


def _weight_dtypes(target: str, path) -> list[tuple[str, tuple[int, ...]]]:
    """(dtype name, shape) of every float weight the artifact stores."""
    if target == "savedmodel":
        import tensorflow as tf

        reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
        dtypes, shapes = reader.get_variable_to_dtype_map(), reader.get_variable_to_shape_map()
        return [(dtypes[key].name, tuple(shapes[key])) for key in dtypes if key.startswith("onnx_weights/")]
    import torch

    program = torch.export.load(str(path))
    tensors = [*program.state_dict.values(), *program.constants.values()]
    return [(str(t.dtype).removeprefix("torch."), tuple(t.shape)) for t in tensors if t.is_floating_point()]


def _compute_dtypes(target: str, path) -> set[str]:
    """The dtypes the artifact's matrix products and convolutions run in."""
    if target == "savedmodel":
        import tensorflow as tf

        graph = tf.saved_model.load(str(path)).signatures["serving_default"].graph.as_graph_def()
        heavy = {"Conv2D", "DepthwiseConv2dNative", "MatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"}
        return {tf.as_dtype(node.attr["T"].type).name for function in graph.library.function
                for node in function.node_def if node.op in heavy}
    import torch

    program = torch.export.load(str(path))
    heavy = ("convolution", "conv2d", "mm", "addmm", "bmm", "matmul", "linear")
    return {str(node.meta["val"].dtype).removeprefix("torch.") for node in program.graph.nodes
            if node.op == "call_function" and str(node.target).removeprefix("aten.").split(".")[0] in heavy}


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
@pytest.mark.parametrize("target", ["savedmodel", "pt2"])
@pytest.mark.parametrize("model", ["cnn", "block"])
def test_half_artifact_is_half_inside_and_close_to_the_source(models, tmp_path, model, target, precision):
    loaded = models[model]
    path, details = _write(loaded, target, PrecisionRequest(precision), tmp_path)
    assert details["precision"] == precision and details["kept_float"] == []
    weights = _weight_dtypes(target, path)
    assert weights and {dtype for dtype, _ in weights} == {HALF_NAMES[precision]}
    assert _compute_dtypes(target, path) == {HALF_NAMES[precision]}
    run = TARGETS[target].runner(path, loaded, details)
    for batch in (1, 3):  # the batch stays dynamic
        feeds = _feeds(loaded, batch)
        (got,), (expected,) = run(feeds), loaded.reference(feeds)
        assert got.dtype == np.float32 and got.shape == expected.shape and got.shape[0] == batch
        assert _cosine(got, expected) >= MIN_COSINE[precision]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["savedmodel", "pt2"])
def test_a_kept_node_keeps_its_weight_in_float32(models, tmp_path, target):
    loaded = models["block"]
    initializers = {init.name: tuple(init.dims) for init in loaded.model.graph.initializer}
    first = next(n for n in loaded.model.graph.node if n.op_type == "MatMul" and n.input[1] in initializers)
    request = PrecisionRequest("fp16", keep_float=(first.name,))
    path, details = _write(loaded, target, request, tmp_path)
    assert details["kept_float"] == [first.name]
    weights = _weight_dtypes(target, path)
    assert [shape for dtype, shape in weights if dtype == "float32"] == [initializers[first.input[1]]]
    assert {dtype for dtype, _ in weights} == {"float32", "float16"}
    feeds = _feeds(loaded, 2)
    (got,), (expected,) = TARGETS[target].runner(path, loaded, details)(feeds), loaded.reference(feeds)
    assert _cosine(got, expected) >= MIN_COSINE["fp16"]


def _declared_input_dtype(target: str, path) -> str:
    if target == "savedmodel":
        import tensorflow as tf

        (spec,) = tf.saved_model.load(str(path)).signatures["serving_default"].structured_input_signature[1].values()
        return spec.dtype.name
    import torch

    program = torch.export.load(str(path))
    (value,) = [node.meta["val"] for node in program.graph.nodes
                if node.op == "placeholder" and node.name in program.graph_signature.user_inputs]
    return str(value.dtype).removeprefix("torch.")


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
@pytest.mark.parametrize("target", ["savedmodel", "pt2"])
def test_native_io_takes_half_and_the_runner_feeds_it(models, tmp_path, target, precision):
    loaded = models["block"]
    path, details = _write(loaded, target, PrecisionRequest(precision, "native"), tmp_path)
    assert details["io_types"] == "native"
    assert _declared_input_dtype(target, path) == HALF_NAMES[precision]
    feeds = _feeds(loaded, 3)
    (got,), (expected,) = TARGETS[target].runner(path, loaded, details)(feeds), loaded.reference(feeds)
    assert got.dtype == (np.float16 if precision == "fp16" else np.float32)  # numpy has no bfloat16: widened
    assert _cosine(got, expected) >= MIN_COSINE[precision]


def _tiny_model() -> onnx.ModelProto:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], np.arange(16, dtype=np.float32).tolist())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="project")], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _tiny_loaded() -> SimpleNamespace:
    """What half_graph reads of a LoadedModel: the ONNX and where external weights lie (none)."""
    return SimpleNamespace(model=_tiny_model(), weights_dir=None)


@pytest.mark.parametrize("precision, io_types, half_io", [("fp16", "float", False), ("bf16", "float", False),
                                                          ("bf16", "native", True)])
def test_the_half_graph_types(precision, io_types, half_io):
    half = half_graph(_tiny_loaded(), PrecisionRequest(precision, io_types))
    code = TensorProto.FLOAT16 if precision == "fp16" else TensorProto.BFLOAT16
    assert [init.data_type for init in half.graph.initializer] == [code]
    io = {value.type.tensor_type.elem_type for value in (*half.graph.input, *half.graph.output)}
    assert io == {code if half_io else TensorProto.FLOAT}
    onnx.checker.check_model(half, full_check=True)


def test_the_half_graph_refuses_unknown_layers_and_other_precisions():
    with pytest.raises(GraphtoolError, match="nowhere: no node of that name"):
        half_graph(_tiny_loaded(), PrecisionRequest("fp16", keep_float=("nowhere",)))
    with pytest.raises(GraphtoolError, match="half-precision build takes fp16 or bf16"):
        half_graph(_tiny_loaded(), PrecisionRequest("int8"))
