"""Diff, inspect and render of quantized (QDQ, QOperator, dynamic) and float16 models against their float model."""

from __future__ import annotations

import json
import logging

import numpy as np
import onnx
import pytest
from graph_models import conv_matmul_model
from onnx import TensorProto, numpy_helper

from converter.graphs.diff import diff_graphs
from converter.graphs.graph import to_graph
from converter.graphs.precision import precision_mix
from converter.graphs.quantized import dequantize
from converter.graphs.render import render_graph

LAYERS = ("conv1", "conv2", "fc1", "fc2")
WEIGHTS = ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The float model and its QDQ, QOperator, dynamic, partly dynamic and float16 versions, as ModelProtos."""
    from onnxconverter_common import float16
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(1)
            self.batches = iter([{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    folder = tmp_path_factory.mktemp("precision")
    source = folder / "float.onnx"
    onnx.save(conv_matmul_model(), source)
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice to pre-process
    quantize_static(source, folder / "qdq.onnx", Reader(), quant_format=QuantFormat.QDQ,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    quantize_static(source, folder / "qoperator.onnx", Reader(), quant_format=QuantFormat.QOperator)
    quantize_dynamic(source, folder / "dynamic.onnx", weight_type=QuantType.QInt8)
    quantize_dynamic(source, folder / "partial.onnx", weight_type=QuantType.QInt8, nodes_to_exclude=["fc2"])
    loaded = {path.stem: onnx.load(path) for path in folder.glob("*.onnx")}
    loaded["fp16"] = float16.convert_float_to_float16(conv_matmul_model(), keep_io_types=True)
    return loaded


@pytest.mark.parametrize("name, precision, dtype", [
    ("qdq", "int8 (QDQ, static)", "int8"),
    ("qoperator", "int8 (QOperator, static)", "int8"),
    ("dynamic", "int8 (dynamic)", "int8"),
    ("fp16", "float16 (I/O float32)", "float16"),
])
def test_diff_reports_each_layer_in_its_new_precision_and_no_scaffolding(models, name, precision, dtype):
    diff = diff_graphs(to_graph(models["float"]), to_graph(models[name]))
    assert not [c for c in diff.changes if c.kind in ("added", "removed", "changed", "weight_changed",
                                                       "constant_folded")]
    section = diff.precision
    assert (section.precision_a, section.precision_b) == ("float32", precision)
    layers = {layer.a: layer for layer in section.layers}
    assert {name: layers[name].precision_b for name in LAYERS} == dict.fromkeys(LAYERS, dtype)
    assert section.kept == ()
    assert {w.a for w in section.weights} >= set(WEIGHTS)
    assert all(0 < w.range_error < 0.02 for w in section.weights if w.a in WEIGHTS)
    assert section.bytes_a > section.bytes_b
    assert not diff.identical
    document = json.loads(json.dumps(diff.to_dict()))
    assert document["precision"]["summary"]["changed"] == {f"float32->{dtype}": 4}
    assert f"4 of 4 Conv/MatMul layers float32 → {dtype}, 0 kept in float32" in section.line()


def test_weight_error_is_the_dequantized_weight_against_the_float_one(models):
    quantized = {t.name: numpy_helper.to_array(t) for t in models["qdq"].graph.initializer}
    floats = {t.name: numpy_helper.to_array(t) for t in models["float"].graph.initializer}
    diff = diff_graphs(to_graph(models["float"]), to_graph(models["qdq"]))
    weight = next(w for w in diff.precision.weights if w.a == "conv2.weight")
    scale, zero = quantized["conv2.weight_scale"], quantized["conv2.weight_zero_point"]
    values = (quantized["conv2.weight_quantized"].astype(np.float64) - zero.astype(np.float64)) * scale
    expected = np.abs(values - floats["conv2.weight"]).max()
    assert weight.max_abs_error == pytest.approx(expected, rel=1e-5)
    assert weight.range_error == pytest.approx(expected / np.ptp(floats["conv2.weight"]), rel=1e-5)
    assert (weight.dtype_a, weight.dtype_b, weight.bytes_a) == ("float32", "int8", 16 * 8 * 3 * 3 * 4)


def test_quantizer_fused_activations_are_named_not_removed(models):
    diff = diff_graphs(to_graph(models["float"]), to_graph(models["qdq"]))
    assert set(diff.precision.fused) == {"relu1", "relu2", "relu3"}
    assert not [c for c in diff.changes if c.kind == "removed"]


def test_layer_excluded_from_quantization_is_kept_in_float(models):
    diff = diff_graphs(to_graph(models["float"]), to_graph(models["partial"]))
    assert diff.precision.kept == ("fc2",)
    assert {layer.a for layer in diff.precision.layers} == {"conv1", "conv2", "fc1"}
    assert "3 of 4 Conv/MatMul layers float32 → int8, 1 kept in float32" in diff.precision.line()


def test_reverse_diff_reports_the_way_back_to_float(models):
    diff = diff_graphs(to_graph(models["dynamic"]), to_graph(models["float"]))
    assert {layer.precision_a for layer in diff.precision.layers} == {"int8"}
    assert {layer.precision_b for layer in diff.precision.layers} == {"float32"}
    assert not [c for c in diff.changes if c.kind in ("added", "removed")]


def test_float_models_have_no_precision_section(models):
    diff = diff_graphs(to_graph(models["float"]), to_graph(models["float"]))
    assert diff.precision is None and diff.identical
    assert diff.to_dict()["precision"] is None


def test_dequantize_per_channel_along_an_axis():
    values = np.array([[1, 2], [3, 4]], dtype=np.int8)
    out = dequantize(values, np.array([0.5, 2.0], dtype=np.float32), np.array([1, 0], dtype=np.int8), axis=0)
    np.testing.assert_allclose(out, [[0.0, 0.5], [6.0, 8.0]])


@pytest.mark.parametrize("name, line", [
    ("float", "float32"),
    ("qdq", "int8 (QDQ, static), 4/4 layers quantized"),
    ("partial", "int8 (dynamic), 3/4 layers quantized"),
    ("fp16", "float16 (I/O float32), 4/4 layers in float16"),
])
def test_precision_mix_line(models, name, line):
    mix = precision_mix(models[name])
    assert mix.line() == line
    if name == "qdq":
        assert mix.ops["DequantizeLinear"] > mix.ops["QuantizeLinear"] > 0
        assert mix.weights["int8"]["bytes"] == sum(np.prod(t.dims) for t in models["qdq"].graph.initializer
                                                   if t.data_type == TensorProto.INT8)


@pytest.mark.parametrize("name", ["qdq", "qoperator", "dynamic", "fp16"])
def test_render_draws_scaffolding_inside_its_layers(models, name):
    plain = render_graph(to_graph(models["float"]), max_nodes=0)
    rendering = render_graph(to_graph(models[name]), max_nodes=0)
    # the float graph's ops and weights (relus a quantizer fused away aside), plus a Q/DQ at most before the output
    assert rendering.items <= plain.items + 1
    assert rendering.source.count("int8" if name != "fp16" else "float16") >= len(LAYERS)
