"""ONNX fp16, bf16 and int8 builds: they run in onnxruntime, stay close to float32, and locate names what to keep."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from precision_models import cnn, loaded, overflowing_norm, transformer_block

from converter.core.errors import GraphtoolError
from converter.core.precision import PrecisionRequest
from converter.targets.precision.onnx_half import (
    ORT_CPU_NO_BFLOAT16,
    ORT_CPU_NO_FLOAT16,
    emulate_half,
    locate_half,
    to_half,
    write_half,
)
from converter.targets.precision.onnx_int8 import locate_int8, write_int8


def _run(model, feeds: dict[str, np.ndarray]) -> np.ndarray:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _images(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).normal(size=(count, 3, 16, 16)).astype(np.float32)}


def _norm_inputs() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(0).normal(size=(4, 32)).astype(np.float32)}


def _initializer_types(model: onnx.ModelProto) -> set[int]:
    return {tensor.data_type for tensor in model.graph.initializer if tensor.data_type != TensorProto.INT64}


def test_fp16_cnn_runs_in_onnxruntime_cpu_and_stays_close(tmp_path):
    feeds = _images(8)
    details = write_half(loaded(cnn(), feeds), tmp_path / "m.onnx", False, PrecisionRequest("fp16"))
    written = onnx.load(tmp_path / "m.onnx")
    assert details == {"external_data": None, "precision": "fp16", "kept_float": []}
    assert _initializer_types(written) == {TensorProto.FLOAT16}
    assert written.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # io types stay float
    assert _cosine(_run(cnn(), feeds), _run(tmp_path / "m.onnx", feeds)) > 0.999
    assert _cosine(_run(cnn(), feeds), _run(emulate_half(cnn(), "fp16"), feeds)) > 0.999


@pytest.mark.parametrize("op_type", ["Conv", "MatMul", "Gemm", "Softmax", "LayerNormalization", "Erf", "Sqrt",
                                     "ReduceMean", "Pow", "Sigmoid", "BatchNormalization", "MaxPool"])
def test_onnxruntime_cpu_loads_float16_common_ops(op_type):
    """ORT_CPU_NO_FLOAT16 is empty because onnxruntime itself casts float16 nodes it has no kernel for."""
    assert op_type not in ORT_CPU_NO_FLOAT16
    shapes = {"Conv": [[1, 2, 5, 5], [3, 2, 3, 3]], "MatMul": [[2, 4], [4, 3]], "Gemm": [[2, 4], [4, 3]],
              "LayerNormalization": [[2, 4], [4], [4]], "Pow": [[2, 4], [2, 4]],
              "BatchNormalization": [[1, 2, 3, 3], [2], [2], [2], [2]], "MaxPool": [[1, 2, 4, 4]]}
    shapes = shapes.get(op_type, [[2, 4]])
    attributes = {"MaxPool": {"kernel_shape": [2, 2]}}.get(op_type, {})
    inputs = [helper.make_tensor_value_info(f"i{k}", TensorProto.FLOAT16, shape) for k, shape in enumerate(shapes)]
    node = helper.make_node(op_type, [value.name for value in inputs], ["y"], **attributes)
    model = helper.make_model(helper.make_graph([node], "g", inputs, [helper.make_empty_tensor_value_info("y")]),
                              opset_imports=[helper.make_opsetid("", 18)])
    feeds = {f"i{k}": np.abs(np.random.default_rng(k).normal(size=shape)).astype(np.float16) + 0.5
             for k, shape in enumerate(shapes)}
    assert np.isfinite(_run(model, feeds)).all()


def test_bf16_onnx_is_refused_naming_the_missing_kernels(tmp_path):
    with pytest.raises(GraphtoolError) as error:
        write_half(loaded(cnn(), _images(2)), tmp_path / "m.onnx", False, PrecisionRequest("bf16"))
    message = str(error.value)
    assert "\n" not in message and "MatMul" in message and "--to pt2 --precision bf16" in message
    assert not (tmp_path / "m.onnx").exists()
    model = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"])], "g",
        [helper.make_tensor_value_info(name, TensorProto.BFLOAT16, [2, 2]) for name in "ab"],
        [helper.make_empty_tensor_value_info("y")]), opset_imports=[helper.make_opsetid("", 18)])
    assert "MatMul" in ORT_CPU_NO_BFLOAT16
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):  # the refusal's premise, checked on this onnxruntime
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_bf16_graph_is_typed_bfloat16_with_weights_rounded_from_float32():
    import ml_dtypes

    model = cnn()
    half = to_half(model, "bf16")
    assert _initializer_types(half) == {TensorProto.BFLOAT16}
    weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in half.graph.initializer}
    original = onnx.numpy_helper.to_array(model.graph.initializer[0])
    assert np.array_equal(weights[model.graph.initializer[0].name].astype(np.float32),
                          original.astype(ml_dtypes.bfloat16).astype(np.float32))
    assert not any(node.op_type == "Cast" and node.attribute[0].i == TensorProto.FLOAT16 for node in half.graph.node)
    feeds = _images(8)
    assert _cosine(_run(model, feeds), _run(emulate_half(model, "bf16"), feeds)) > 0.999


def test_fp16_overflow_is_located_and_keeping_the_named_nodes_fixes_it():
    model, feeds = overflowing_norm(), _norm_inputs()
    expected = _run(model, feeds)
    request = PrecisionRequest("fp16")
    half = _run(emulate_half(model, "fp16"), feeds)
    assert np.abs(half - expected).max() > 1.0  # the squares overflow: the norm is inf, the output collapses
    first = locate_half(loaded(model, feeds), request, feeds)[0]
    assert (first.name, first.op_type) == ("square", "Pow") and "overflows float16" in first.detail
    for _ in range(len(model.graph.node)):
        located = locate_half(loaded(model, feeds), request, feeds)
        if not located[0].extra["introduces_overflow"]:
            break
        request = request.keeping(located[0].name)
    assert set(request.keep_float) == {"square", "mean", "root"}
    emulated = _run(emulate_half(model, "fp16", request.keep_float), feeds)
    written = _run(to_half(model, "fp16", request.keep_float), feeds)
    for result in (emulated, written):
        assert np.isfinite(result).all() and _cosine(expected, result) > 0.999


def test_keep_float_leaves_the_named_node_in_float32():
    half = to_half(cnn(), "fp16", keep_float=("conv2",))
    weights = {tensor.name: tensor.data_type for tensor in half.graph.initializer}
    assert weights["w2"] == TensorProto.FLOAT and weights["w1"] == TensorProto.FLOAT16
    with pytest.raises(GraphtoolError, match="no node of that name"):
        to_half(cnn(), "fp16", keep_float=("nope",))


def test_fp16_output_also_read_inside_the_graph_loads_with_float_io():
    model = cnn()  # its pooled features are an output too, and the classifier reads them (as BERT's pooler does)
    model.graph.output.append(helper.make_tensor_value_info("flat", TensorProto.FLOAT, ["batch", 16]))
    feeds = _images(8)
    session = ort.InferenceSession(to_half(model, "fp16").SerializeToString(), providers=["CPUExecutionProvider"])
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for high, low in zip(expected, session.run(None, feeds), strict=True):
        assert low.dtype == np.float32 and _cosine(high, low) > 0.999


def test_int8_dynamic_transformer_block_is_close_and_smaller(tmp_path):
    feeds = {"x": np.random.default_rng(0).normal(size=(2, 16, 128)).astype(np.float32)}
    onnx.save(transformer_block(), tmp_path / "float.onnx")
    details = write_int8(loaded(transformer_block(), feeds), tmp_path / "q.onnx", False,
                         PrecisionRequest("int8-dynamic"))
    assert details["quantized_nodes"] == 2 and details["precision"] == "int8-dynamic"
    assert _cosine(_run(transformer_block(), feeds), _run(tmp_path / "q.onnx", feeds)) >= 0.99
    assert (tmp_path / "q.onnx").stat().st_size < (tmp_path / "float.onnx").stat().st_size / 2
    assert {p.name for p in tmp_path.iterdir()} == {"float.onnx", "q.onnx"}  # no temporary left behind
    located = locate_int8(loaded(transformer_block(), feeds), PrecisionRequest("int8-dynamic"), feeds)
    assert located[0].op_type == "MatMul" and located[0].introduced > 0


def test_int8_dynamic_keep_float_excludes_the_named_node(tmp_path):
    feeds = {"x": np.random.default_rng(0).normal(size=(2, 4, 128)).astype(np.float32)}
    request = PrecisionRequest("int8-dynamic", keep_float=("down",))
    details = write_int8(loaded(transformer_block(), feeds), tmp_path / "q.onnx", False, request)
    matmuls = [node.name for node in onnx.load(tmp_path / "q.onnx").graph.node if node.op_type == "MatMul"]
    assert matmuls == ["down"] and details["quantized_nodes"] == 1 and details["kept_float"] == ["down"]
    located = locate_int8(loaded(transformer_block(), feeds), request, feeds)
    assert "down" not in {error.name for error in located} and located[0].name == "up"


def test_int8_static_cnn_has_qdq_nodes_and_keeps_the_argmax(tmp_path):
    calibration = tuple(_images(8, seed) for seed in range(1, 5))
    request = PrecisionRequest("int8", calibration=calibration)
    details = write_int8(loaded(cnn(), _images(2)), tmp_path / "q.onnx", False, request)
    ops = [node.op_type for node in onnx.load(tmp_path / "q.onnx").graph.node]
    assert ops.count("QuantizeLinear") >= 3 and ops.count("DequantizeLinear") >= 6
    assert details["quantized_nodes"] >= 3
    feeds = _images(64, seed=9)
    expected, actual = _run(cnn(), feeds), _run(tmp_path / "q.onnx", feeds)
    assert np.mean(expected.argmax(1) == actual.argmax(1)) >= 0.9
    located = locate_int8(loaded(cnn(), _images(2)), request, _images(4, seed=9))
    assert {error.name for error in located} <= {node.name for node in cnn().graph.node}
    assert all(error.error < 0.1 for error in located)  # compared as readers see them: dequantized, not raw


def test_int8_static_without_calibration_is_one_line(tmp_path):
    with pytest.raises(GraphtoolError) as error:
        write_int8(loaded(cnn(), _images(2)), tmp_path / "q.onnx", False, PrecisionRequest("int8"))
    assert "--calibration" in str(error.value) and "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_external_weights_are_read_in_and_a_model_over_2gb_is_refused(tmp_path, monkeypatch):
    from converter.core import external_data
    from converter.targets.precision import onnx_model

    model, feeds = transformer_block(), {"x": np.random.default_rng(0).normal(size=(1, 4, 128)).astype(np.float32)}
    external = onnx.ModelProto()
    external.CopyFrom(model)
    external_data.externalize(external, tmp_path)
    assert external_data.uses_external_data(external)
    source = loaded(external, feeds)
    source.weights_dir = tmp_path
    write_half(source, tmp_path / "half.onnx", False, PrecisionRequest("fp16"))
    assert _cosine(_run(model, feeds), _run(tmp_path / "half.onnx", feeds)) > 0.999
    monkeypatch.setattr(onnx_model, "PROTOBUF_LIMIT", 1024)
    with pytest.raises(GraphtoolError, match="over the 2 GB"):
        write_half(source, tmp_path / "other.onnx", False, PrecisionRequest("fp16"))
