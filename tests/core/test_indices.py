"""Integer inputs that index an embedding get bounds, also behind Keras' negative-index wrap."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from converter.core.indices import index_bounds


def _model(nodes, inputs, rows=7):
    graph = helper.make_graph(
        nodes, "embed", [helper.make_tensor_value_info(name, dtype, ["batch", "seq"]) for name, dtype in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((rows, 3), np.float32), "table"),
         numpy_helper.from_array(np.array(rows, np.int32), "rows"),
         numpy_helper.from_array(np.array(0, np.int32), "zero")],
    )
    return helper.make_model(graph, ir_version=10)


def test_an_index_through_a_negative_index_wrap_is_bounded_by_the_table():
    # where(ids < 0, ids + rows, ids), as tf2onnx writes Keras' Embedding: Less, Not, Cast, Mul, Add
    nodes = [
        helper.make_node("Less", ["ids", "zero"], ["negative"]),
        helper.make_node("Not", ["negative"], ["kept"]),
        helper.make_node("Cast", ["kept"], ["kept_int"], to=TensorProto.INT32),
        helper.make_node("Cast", ["negative"], ["negative_int"], to=TensorProto.INT32),
        helper.make_node("Add", ["ids", "rows"], ["wrapped"]),
        helper.make_node("Mul", ["ids", "kept_int"], ["own"]),
        helper.make_node("Mul", ["negative_int", "wrapped"], ["other"]),
        helper.make_node("Add", ["own", "other"], ["index"]),
        helper.make_node("Gather", ["table", "index"], ["y"], axis=0),
    ]
    model = _model(nodes, [("ids", TensorProto.INT32)])
    assert index_bounds(model) == {"ids": 7}


def test_inputs_that_reach_no_table_and_float_inputs_are_not_bounded():
    nodes = [
        helper.make_node("Cast", ["scores"], ["index"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "index"], ["picked"], axis=0),
        helper.make_node("Add", ["other", "zero"], ["y"]),
    ]
    model = _model(nodes, [("scores", TensorProto.FLOAT), ("other", TensorProto.INT32)])
    assert index_bounds(model) == {}
