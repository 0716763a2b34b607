"""ONNX -> TensorFlow converter: numerics against onnxruntime, layout tracking, errors, the light CNNs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")


from converter.backends import tf as backend  # noqa: E402
from converter.core.errors import UnsupportedOpError  # noqa: E402
from converter.targets.tf import count_transposes, from_onnx  # noqa: E402

pytestmark = pytest.mark.slow

RTOL, ATOL = 1e-4, 1e-5


def _init(rng, name: str, shape, scale: float = 0.3, positive: bool = False) -> onnx.TensorProto:
    values = rng.uniform(0.5, 1.5, shape) if positive else rng.normal(0.0, scale, shape)
    return numpy_helper.from_array(values.astype(np.float32), name)


def _model(nodes, inputs, outputs, inits, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return model


def _float_input(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _output(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def _reference(model: onnx.ModelProto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs, strict=True)))


def _assert_matches(model: onnx.ModelProto, inputs: list[np.ndarray], rtol: float = RTOL, atol: float = ATOL):
    want = _reference(model, inputs)
    got = backend.prepare(model).run(inputs)
    assert len(got) == len(want)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _cnn() -> onnx.ModelProto:
    """Conv-BN-ReLU, a residual Add, pooling, Concat, GlobalAveragePool, Flatten, Gemm, Softmax."""
    rng = np.random.default_rng(0)
    inits = [
        _init(rng, "w1", [8, 3, 3, 3]),
        _init(rng, "b1", [8]),
        _init(rng, "s", [8], positive=True),
        _init(rng, "bb", [8]),
        _init(rng, "m", [8]),
        _init(rng, "v", [8], positive=True),
        _init(rng, "w2", [8, 8, 3, 3]),
        _init(rng, "w3", [4, 8, 1, 1]),
        _init(rng, "bias3", [4, 1, 1]),
        _init(rng, "fc", [5, 12]),
        _init(rng, "fcb", [5]),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "bb", "m", "v"], ["n1"]),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["res"]),
        helper.make_node("MaxPool", ["res"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p", "w3"], ["c3"]),
        helper.make_node("Add", ["c3", "bias3"], ["c3b"]),
        helper.make_node("Concat", ["p", "c3b"], ["cat"], axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["prob"], axis=1),
    ]
    return _model(nodes, [_float_input("x", ["N", 3, 16, 16])], [_output("prob"), _output("res")], inits)


def test_cnn_matches_onnxruntime_with_dynamic_batch():
    model = _cnn()
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 16, 16)).astype(np.float32)
        _assert_matches(model, [x])


def test_outputs_are_a_dict_in_graph_order_with_onnx_layout():
    module = from_onnx(_cnn())
    x = np.zeros((2, 3, 16, 16), np.float32)
    outputs = module(x)
    assert list(outputs) == ["prob", "res"]
    assert outputs["res"].shape == (2, 8, 16, 16)
    assert module.call.input_signature[0].shape.as_list() == [None, 3, 16, 16]


def test_weights_are_variables():
    module = from_onnx(_cnn())
    # Convolution kernels always (stored in TensorFlow's layout); other weights from 64 elements.
    assert set(module.onnx_weights) == {"w1", "w2", "w3"}
    assert len(module.variables) == 3
    assert module.onnx_weights["w1"].shape.as_list() == [3, 3, 3, 8]


def test_layout_propagation_leaves_transposes_only_at_the_interface():
    model = _cnn()
    propagated = count_transposes(from_onnx(model))
    simple = count_transposes(from_onnx(model, propagate_layout=False))
    # The NCHW input, and the residual output "res" returned in ONNX layout.
    assert propagated == 2
    assert simple >= 8


def test_unpropagated_layout_gives_the_same_numbers():
    model = _cnn()
    x = np.random.default_rng(5).standard_normal((2, 3, 16, 16)).astype(np.float32)
    a = from_onnx(model)(x)
    b = from_onnx(model, propagate_layout=False)(x)
    for name in a:
        np.testing.assert_allclose(a[name].numpy(), b[name].numpy(), rtol=RTOL, atol=ATOL)


def test_unsupported_op_names_the_node():
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], name="vectorize", mode="TF")
    graph = helper.make_graph([node], "g", [_float_input("x", [4])], [_output("y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOpError) as error:
        from_onnx(model)
    assert error.value.node_name == "vectorize"
    assert error.value.op_type == "TfIdfVectorizer"
    assert error.value.opset == 17


def test_unsupported_attribute_names_the_node():
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="antialiased_resize", mode="linear", antialias=1)
    scales = numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], np.float32), "scales")
    graph = helper.make_graph([node], "g", [_float_input("x", [1, 1, 4, 4])], [_output("y")], [scales])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    with pytest.raises(UnsupportedOpError, match="antialiased_resize.*antialias") as error:
        from_onnx(model)
    assert error.value.opset == 19


def test_transformer_block_ops_match():
    rng = np.random.default_rng(1)
    inits = [
        _init(rng, "wq", [16, 16]),
        _init(rng, "g", [16], positive=True),
        _init(rng, "beta", [16]),
        numpy_helper.from_array(np.array([0, 0, 2, 8], np.int64), "heads"),
        numpy_helper.from_array(np.array([0, 0, 16], np.int64), "merge"),
    ]
    nodes = [
        helper.make_node("LayerNormalization", ["x", "g", "beta"], ["ln"], axis=-1),
        helper.make_node("MatMul", ["ln", "wq"], ["q"]),
        helper.make_node("Reshape", ["q", "heads"], ["qh"]),
        helper.make_node("Transpose", ["qh"], ["qt"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["qh"], ["kt"], perm=[0, 2, 3, 1]),
        helper.make_node("MatMul", ["qt", "kt"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["attn"], axis=-1),
        helper.make_node("MatMul", ["attn", "qt"], ["ctx"]),
        helper.make_node("Transpose", ["ctx"], ["ct"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["ct", "merge"], ["merged"]),
        helper.make_node("Erf", ["merged"], ["e"]),
        helper.make_node("Where", ["mask", "e", "merged"], ["y"]),
    ]
    inputs = [_float_input("x", ["B", "T", 16]), helper.make_tensor_value_info("mask", TensorProto.BOOL, ["T", 16])]
    model = _model(nodes, inputs, [_output("y")], inits)
    x = rng.standard_normal((2, 5, 16)).astype(np.float32)
    mask = rng.random((5, 16)) > 0.5
    _assert_matches(model, [x, mask])


def test_lstm_and_loop_match():
    rng = np.random.default_rng(2)
    hidden, size = 4, 3
    inits = [
        _init(rng, "W", [1, 4 * hidden, size]),
        _init(rng, "R", [1, 4 * hidden, hidden]),
        _init(rng, "B", [1, 8 * hidden]),
    ]
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "step"], ["acc_out"]), helper.make_node("Identity", ["cond"], ["cond_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            _float_input("acc", None),
        ],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), _output("acc_out")],
    )
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden),
        helper.make_node("Squeeze", ["Y_h"], ["step"]),
        helper.make_node("Loop", ["trips", "", "step"], ["total"], body=body),
    ]
    inputs = [_float_input("x", [5, 2, size]), helper.make_tensor_value_info("trips", TensorProto.INT64, [])]
    model = _model(nodes, inputs, [_output("Y"), _output("total")], inits)
    x = rng.standard_normal((5, 2, size)).astype(np.float32)
    _assert_matches(model, [x, np.array(3, np.int64)])


@pytest.mark.parametrize("name", ["squeezenet", "resnet50", "inception_v1"])
def test_light_cnn_with_random_weights(name: str):
    from converter.conformance import light as conformance
    result = conformance.compare_light(conformance.LIGHT_DIR / f"light_{name}.onnx", "tf")
    assert result.ok, result
    assert result.logits_max_abs <= 1e-4 * result.logits_scale and result.top1_equal
    assert result.transposes <= 2


def test_pad_and_slice_keep_channels_last_between_convolutions():
    rng = np.random.default_rng(3)
    inits = [
        _init(rng, "w", [8, 3, 3, 3]),
        _init(rng, "w2", [4, 4, 3, 3]),
        numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 3, 1], np.int64), "pads"),
        numpy_helper.from_array(np.array([2, 1], np.int64), "starts"),
        numpy_helper.from_array(np.array([6, 9], np.int64), "ends"),
        numpy_helper.from_array(np.array([1, -1], np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Pad", ["c", "pads"], ["p"], mode="reflect"),
        helper.make_node("Slice", ["p", "starts", "ends", "axes"], ["s"]),
        helper.make_node("Conv", ["s", "w2"], ["y"]),
    ]
    model = _model(nodes, [_float_input("x", [2, 3, 12, 12])], [_output("y")], inits, opset=18)
    x = rng.standard_normal((2, 3, 12, 12)).astype(np.float32)
    _assert_matches(model, [x], rtol=1e-4, atol=1e-4)
    assert count_transposes(from_onnx(model)) == 2


def test_shape_arithmetic_on_static_shapes_is_folded():
    inits = [
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
    ]
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"]),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axes"))
    model = _model(nodes, [_float_input("x", [2, 3, 4])], [_output("y")], inits)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    _assert_matches(model, [x])
    ops = {op.type for op in from_onnx(model).call.get_concrete_function().graph.get_operations()}
    assert not ops & {"Shape", "GatherV2", "ConcatV2", "ExpandDims"}


def test_quantize_dequantize_per_axis_matches():
    inits = [
        numpy_helper.from_array(np.array([0.05, 0.1, 0.2], np.float32), "scale"),
        numpy_helper.from_array(np.array([3, 0, 250], np.uint8), "zero"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], axis=1),
        helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["y"], axis=1),
        helper.make_node("DynamicQuantizeLinear", ["x"], ["dq", "dscale", "dzero"]),
    ]
    outputs = [
        helper.make_tensor_value_info("q", TensorProto.UINT8, None),
        _output("y"),
        helper.make_tensor_value_info("dq", TensorProto.UINT8, None),
    ]
    model = _model(nodes, [_float_input("x", [2, 3, 4])], outputs, inits, opset=13)
    x = np.random.default_rng(4).normal(0, 3, (2, 3, 4)).astype(np.float32)
    _assert_matches(model, [x], rtol=0, atol=1e-6)


def test_conv_transpose_weights_are_stored_permuted():
    rng = np.random.default_rng(6)
    inits = [_init(rng, "up", [8, 4, 4, 4]), _init(rng, "b", [4])]
    nodes = [helper.make_node("ConvTranspose", ["x", "up", "b"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1])]
    model = _model(nodes, [_float_input("x", [1, 8, 5, 5])], [_output("y")], inits)
    x = rng.standard_normal((1, 8, 5, 5)).astype(np.float32)
    _assert_matches(model, [x])
    module = from_onnx(model)
    assert module.onnx_weights["up"].shape.as_list() == [4, 4, 4, 8]
    assert count_transposes(module) == 2


def _graph_ops(module) -> list[str]:
    """The op types of a converted module's traced graph, nested functions included."""
    graph_def = module.call.get_concrete_function().graph.as_graph_def()
    return [n.op for n in graph_def.node] + [n.op for f in graph_def.library.function for n in f.node_def]


def _depthwise_model(spatial, same: dict) -> onnx.ModelProto:
    """Depthwise Convs (group == channels): symmetric stride 1, multiplier 2, `same` padding, then stride 2."""
    rng = np.random.default_rng(7)
    inits = [
        _init(rng, "dw1", [8, 1, 3, 3]),
        _init(rng, "b1", [8]),
        _init(rng, "dw2", [16, 1, 5, 5]),
        _init(rng, "dw3", [16, 1, 3, 3]),
        _init(rng, "dw4", [16, 1, 3, 3]),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "dw1", "b1"], ["a"], group=8, pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["a", "dw2"], ["b"], group=8, pads=[2, 2, 2, 2]),
        helper.make_node("Conv", ["b", "dw3"], ["c"], group=16, **same),
        helper.make_node("Conv", ["c", "dw4"], ["y"], group=16, strides=[2, 2], pads=[1, 1, 1, 1]),
    ]
    return _model(nodes, [_float_input("x", ["N", 8, *spatial])], [_output("y")], inits)


def test_depthwise_conv_is_one_depthwise_op_padded_by_same_where_that_matches():
    model = _depthwise_model([12, 12], {"auto_pad": "SAME_UPPER"})
    x = np.random.default_rng(8).standard_normal((2, 8, 12, 12)).astype(np.float32)
    _assert_matches(model, [x])
    module = from_onnx(model)
    ops = _graph_ops(module)
    assert ops.count("DepthwiseConv2dNative") == 4
    assert "Conv2D" not in ops and "Split" not in ops
    # Only the strided Conv pads (1, 1) where TensorFlow's SAME would pad (0, 1) on an even size.
    assert ops.count("Pad") == 1
    # Weights are stored as depthwise_conv2d takes them: (kh, kw, channels, multiplier), nothing reshaped per call.
    assert module.onnx_weights["dw2"].shape.as_list() == [5, 5, 8, 2]
    assert "Reshape" not in ops


def test_depthwise_conv_with_dynamic_spatial_sizes_matches():
    model = _depthwise_model(["H", "W"], {"pads": [1, 1, 1, 1]})
    for size in (9, 10):
        x = np.random.default_rng(size).standard_normal((1, 8, size, size)).astype(np.float32)
        _assert_matches(model, [x])


@pytest.mark.parametrize("axes", [[2, 3], [3], [1], [0, 2]])
def test_reduce_mean_without_keepdims_after_a_conv(axes: list[int]):
    rng = np.random.default_rng(9)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["c"], ["y"], axes=axes, keepdims=0),
    ]
    model = _model(nodes, [_float_input("x", ["N", 3, 6, 5])], [_output("y")], [_init(rng, "w", [4, 3, 3, 3])])
    _assert_matches(model, [rng.standard_normal((2, 3, 6, 5)).astype(np.float32)])
    if axes == [2, 3]:
        # Pooling the spatial axes of channels-last data gives ONNX's (N, C): only the input is transposed.
        assert count_transposes(from_onnx(model)) == 1


def _padded_convs(mode: str = "constant", value: float = 0.0, extra_reader: bool = False) -> onnx.ModelProto:
    """A TensorFlow-style "SAME" Pad (0, 1) before a stride-2 depthwise Conv, and (1, 1) before a Conv with pads."""
    rng = np.random.default_rng(11)
    inits = [
        _init(rng, "dw", [8, 1, 3, 3]),
        _init(rng, "w", [4, 8, 3, 3]),
        numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "same"),
        numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "ring"),
        numpy_helper.from_array(np.array(value, np.float32), "value"),
    ]
    nodes = [
        helper.make_node("Pad", ["x", "same", "value"], ["p"], mode=mode),
        helper.make_node("Conv", ["p", "dw"], ["d"], group=8, strides=[2, 2]),
        helper.make_node("Pad", ["d", "ring"], ["q"]),
        helper.make_node("Conv", ["q", "w"], ["y"], pads=[0, 1, 0, 1]),
    ]
    outputs = [_output("y")]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["p"], ["r"]))
        outputs.append(_output("r"))
    return _model(nodes, [_float_input("x", ["N", 8, 10, 10])], outputs, inits)


def test_zero_pads_before_convs_become_their_padding():
    model = _padded_convs()
    _assert_matches(model, [np.random.default_rng(12).standard_normal((2, 8, 10, 10)).astype(np.float32)])
    ops = _graph_ops(from_onnx(model))
    # (0, 1) on an even size before a stride-2 depthwise conv is its "SAME"; the Conv2D pads itself.
    assert "Pad" not in ops and "PadV2" not in ops and "MirrorPad" not in ops
    assert ops.count("DepthwiseConv2dNative") == 1 and ops.count("Conv2D") == 1


@pytest.mark.parametrize("case", [{"mode": "reflect"}, {"value": 1.0}, {"extra_reader": True}])
def test_other_pads_before_convs_stay(case: dict):
    model = _padded_convs(**case)
    _assert_matches(model, [np.random.default_rng(13).standard_normal((1, 8, 10, 10)).astype(np.float32)])
    ops = _graph_ops(from_onnx(model))
    assert sum(op in ("Pad", "PadV2", "MirrorPad") for op in ops) >= 1


def _gelu_nodes(style: str) -> list[onnx.NodeProto]:
    """Exact GELU of x into y as exporters write it: x / sqrt(2) or x * (1 / sqrt(2)), the 0.5 anywhere."""
    scale = (
        helper.make_node("Div", ["x", "sqrt2"], ["s"])
        if style != "reciprocal"
        else helper.make_node("Mul", ["inv_sqrt2", "x"], ["s"])
    )
    head = [scale, helper.make_node("Erf", ["s"], ["e"]), helper.make_node("Add", ["one", "e"], ["g"])]
    tails = {
        "torch": [helper.make_node("Mul", ["half", "g"], ["h"]), helper.make_node("Mul", ["x", "h"], ["y"])],
        "half_last": [helper.make_node("Mul", ["g", "x"], ["h"]), helper.make_node("Mul", ["h", "half"], ["y"])],
        "half_first": [helper.make_node("Mul", ["x", "half"], ["h"]), helper.make_node("Mul", ["h", "g"], ["y"])],
    }
    tail = tails["torch" if style == "reciprocal" else style]
    return [*head, *tail]


def _gelu_model(style: str, extra_outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    constants = {"sqrt2": np.sqrt(2.0), "inv_sqrt2": 1 / np.sqrt(2.0), "one": 1.0, "half": 0.5}
    inits = [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in constants.items()]
    outputs = [_output(name) for name in ("y", *extra_outputs)]
    return _model(_gelu_nodes(style), [_float_input("x", ["N", 8])], outputs, inits)


@pytest.mark.parametrize("style", ["torch", "half_last", "half_first", "reciprocal"])
def test_exact_gelu_is_one_node_and_matches(style: str):
    from converter.targets.tf.fusion import FUSED_DOMAIN, fuse_gelu

    model = _gelu_model(style)
    fused = fuse_gelu(model.graph)
    assert [(n.domain, n.op_type, list(n.input), list(n.output)) for n in fused.node] == [
        (FUSED_DOMAIN, "Gelu", ["x"], ["y"])
    ]
    x = np.random.default_rng(3).standard_normal((4, 8)).astype(np.float32) * 3
    _assert_matches(model, [x])


def test_gelu_with_an_intermediate_output_is_not_fused():
    from converter.targets.tf.fusion import fuse_gelu

    model = _gelu_model("torch", extra_outputs=("e",))
    assert fuse_gelu(model.graph) is model.graph
    _assert_matches(model, [np.linspace(-4, 4, 16, dtype=np.float32).reshape(2, 8)])


@pytest.mark.parametrize(
    ("op", "attrs"),
    [
        ("AveragePool", {"count_include_pad": 1}),  # torch's AvgPool2d(k, ceil_mode=True), as EfficientNet's pooler
        ("AveragePool", {"count_include_pad": 0}),
        ("MaxPool", {}),
    ],
)
def test_a_ceil_mode_window_larger_than_the_input_reduces_without_padding(op, attrs):
    node = helper.make_node(op, ["x"], ["y"], kernel_shape=[640, 640], strides=[640, 640], ceil_mode=1, **attrs)
    model = _model([node], [_float_input("x", ["N", 6, 2, 3])], [_output("y")], [])
    x = np.random.default_rng(0).standard_normal((2, 6, 2, 3)).astype(np.float32)
    _assert_matches(model, [x])
    assert "Pad" not in _graph_ops(from_onnx(model)) and "PadV2" not in _graph_ops(from_onnx(model))


@pytest.mark.parametrize("mode", ["constant", "edge"])
@pytest.mark.parametrize("pads", [[0, 1, 2, 0, 3, 1], [0, -1, 2, 1, 0, -2]])  # negative pads crop
def test_pads_computed_at_run_time_pad_and_crop(mode, pads):
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)
    pads_input = helper.make_tensor_value_info("pads", TensorProto.INT64, [6])
    model = _model([node], [_float_input("x", ["N", 4, 5]), pads_input], [_output("y")], [])
    x = np.random.default_rng(0).standard_normal((2, 4, 5)).astype(np.float32)
    _assert_matches(model, [x, np.array(pads, np.int64)])
