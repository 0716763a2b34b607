"""What `inspect` reports: interface, op mix, parameters and top-level scopes of a normalized model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from graph_models import base_model, control_flow_model
from onnx import TensorProto, helper, numpy_helper

from converter import api
from converter.graphs.summary import Summary, summarize


def _half_precision_model() -> onnx.ModelProto:
    """A float16 MatMul with a dynamic batch, a scalar constant and an int64 shape among its initializers."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
         helper.make_node("Mul", ["h", "scale"], ["s"], name="mul"),
         helper.make_node("Reshape", ["s", "shape"], ["y"], name="flat")],
        "half",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["n"])],
        [numpy_helper.from_array(np.ones((4, 3), np.float16), "w"),
         numpy_helper.from_array(np.array(2.0, np.float16), "scale"),
         numpy_helper.from_array(np.array([-1], np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _summary(model: onnx.ModelProto) -> Summary:
    return summarize(api.load(model))


def test_cnn_summary():
    summary = _summary(base_model())
    assert [(s.name, tuple(s.dims), s.dtype) for s in summary.inputs] == [("x", (1, 3, 8, 8), "float32")]
    assert [(s.name, tuple(s.dims), s.dtype) for s in summary.outputs] == [("y", (1, 10), "float32")]
    assert summary.opset == 13 and summary.node_count == 11
    assert summary.op_types == {"Conv": 3, "Relu": 1, "Sigmoid": 1, "Tanh": 1, "Add": 1, "GlobalAveragePool": 1,
                                "Flatten": 1, "Gemm": 1, "Softmax": 1}
    assert list(summary.op_types)[0] == "Conv"  # most common first
    assert (summary.parameter_count, summary.parameter_bytes) == (216 + 8 + 64 + 576 + 80 + 10, 4 * 954)
    assert summary.scopes == {"blocks.0": 5, "head": 4, "stem": 2}


def test_subgraph_nodes_count_and_unscoped_ones_are_top_level():
    summary = _summary(control_flow_model())
    assert summary.node_count == 7
    assert summary.op_types["If"] == 1 and summary.op_types["Neg"] == 1 and summary.op_types["Relu"] == 1
    assert summary.scopes == {"block": 4, "(top level)": 3}
    assert (summary.parameter_count, summary.parameter_bytes) == (2, 8)  # the scalar 'zero' is a constant


def test_parameters_are_floating_point_tensors_of_rank_one_or_more():
    summary = _summary(_half_precision_model())
    assert (summary.parameter_count, summary.parameter_bytes) == (12, 24)
    assert [(s.name, tuple(s.dims), s.dtype) for s in summary.inputs] == [("x", ("batch", 4), "float16")]
    assert summary.opset == 17 and summary.scopes == {"(top level)": 3}


def test_to_dict_is_the_inspect_json_document():
    document = _summary(base_model()).to_dict()
    assert list(document) == ["source", "inputs", "outputs", "opset", "node_count", "counts", "op_types",
                              "parameters", "scopes", "precision"]
    assert document["precision"]["line"] == "float32" and document["precision"]["weights"] == {
        "float32": {"count": 6, "bytes": 3816}}  # every initializer of base_model is a float32 weight
    assert document["source"]["format"] == "onnx" and document["source"]["path"] == "<memory>"
    assert document["inputs"] == [{"name": "x", "shape": [1, 3, 8, 8], "dtype": "float32"}]
    assert document["parameters"] == {"count": 954, "bytes": 3816}


def test_summary_is_frozen():
    summary = _summary(base_model())
    with pytest.raises(AttributeError):
        summary.node_count = 0  # type: ignore[misc]
