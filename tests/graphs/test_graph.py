"""The networkx view of a model: node kinds, attributes, edges, scopes and subgraphs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from graph_models import base_model, control_flow_model
from onnx import TensorProto, helper, numpy_helper

from converter.graphs.graph import format_shape, op_nodes, tensor_hash, to_graph


@pytest.fixture(scope="module")
def cnn():
    return to_graph(base_model())


def test_node_kinds_and_counts(cnn):
    kinds = [kind for _, kind in cnn.nodes(data="kind")]
    assert kinds.count("op") == 11
    assert kinds.count("initializer") == 6
    assert kinds.count("input") == 1 and kinds.count("output") == 1
    assert cnn.graph["inputs"] == ["input:x"] and cnn.graph["outputs"] == ["output:y"]
    assert [cnn.nodes[n]["index"] for n in cnn] == list(range(len(cnn)))


def test_op_node_attributes(cnn):
    conv = cnn.nodes["op:blocks.0/b/conv"]
    assert conv["op_type"] == "Conv" and conv["domain"] == ""
    assert conv["attributes"] == {"pads": [1, 1, 1, 1]}
    assert conv["scope"] == "blocks.0/b"
    assert conv["source"].startswith("model.py:")
    assert conv["output_shapes"] == [[1, 8, 8, 8]]
    assert conv["parent"] is None
    assert cnn.nodes["op:head/fc"]["attributes"] == {"transB": 1, "alpha": 1.0}


def test_io_and_initializer_nodes(cnn):
    x = cnn.nodes["input:x"]
    assert (x["dtype"], x["shape"], x["size"]) == ("float32", [1, 3, 8, 8], 192)
    weight = cnn.nodes["initializer:stem.weight"]
    assert (weight["dtype"], weight["shape"], weight["size"]) == ("float32", [8, 3, 3, 3], 216)
    assert weight["hash"] == tensor_hash(weight["tensor"])
    assert cnn.nodes["output:y"]["shape"] == [1, 10]


def test_one_edge_per_tensor_use(cnn):
    assert cnn.number_of_edges() == 19
    edges = cnn.get_edge_data("op:stem/relu", "op:blocks.0/a/conv")
    assert list(edges.values()) == [
        {"tensor": "stem_out", "dtype": "float32", "shape": [1, 8, 8, 8], "slot": 0, "out_slot": 0}
    ]
    assert cnn.get_edge_data("initializer:stem.bias", "op:stem/conv")[2]["slot"] == 2
    assert list(cnn.predecessors("output:y")) == ["op:head/softmax"]


def test_tensor_read_twice_gives_two_edges():
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "x"], ["y"])], "square",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
    )
    g = to_graph(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    assert g.number_of_edges("input:x", "op:Mul_0") == 2
    assert g.nodes["input:x"]["shape"] == ["n"] and g.nodes["input:x"]["size"] is None
    assert format_shape(g.nodes["input:x"]["shape"]) == "[n]"


def test_graph_attributes(cnn):
    assert cnn.graph["opset"] == {"": 13}
    assert cnn.graph["producer_name"] == "tests"
    assert cnn.graph["notes"] == ()


def test_subgraphs_are_flattened_under_the_parent_scope():
    g = to_graph(control_flow_model())
    branch = g.nodes["op:branch"]
    assert branch["subgraphs"] == {"then_branch": 1, "else_branch": 2}
    assert "then_branch" not in branch["attributes"]
    relu = g.nodes["op:then_relu"]
    assert relu["scope"] == "block/branch.then_branch" and relu["parent"] == "op:branch"
    assert g.nodes["op:else_abs"]["scope"] == "block/branch.else_branch"
    # the branch reads 'h' from the outer graph and hands its result back to the If
    assert g.has_edge("op:add", "op:then_relu")
    assert g.has_edge("op:then_relu", "op:branch") and g.has_edge("op:else_abs", "op:branch")
    assert len(op_nodes(g)) == 7


def test_content_hash_ignores_names_and_storage():
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    raw = numpy_helper.from_array(values, "a")
    listed = helper.make_tensor("b", TensorProto.FLOAT, [2, 3], values.ravel().tolist())
    assert tensor_hash(raw) == tensor_hash(listed)
    assert tensor_hash(raw) != tensor_hash(numpy_helper.from_array(values + 1, "a"))
    assert tensor_hash(raw) != tensor_hash(numpy_helper.from_array(values.reshape(3, 2), "a"))


def test_constant_tensor_attributes_are_summarised():
    node = helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.ones(2, np.float32)))
    graph = helper.make_graph([node], "c", [], [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])])
    g = to_graph(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    value = g.nodes["op:Constant_0"]["attributes"]["value"]
    assert value["tensor"] == "float32" and value["shape"] == [2] and value["values"] == [1.0, 1.0]


def test_unknown_custom_op_keeps_unknown_shapes():
    graph = helper.make_graph(
        [helper.make_node("Mystery", ["x"], ["y"], domain="com.example", name="m")], "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.example", 1)])
    g = to_graph(model)
    assert g.nodes["op:m"]["domain"] == "com.example"
    assert g.nodes["op:m"]["output_shapes"] == [None]
    assert g.graph["opset"] == {"": 13, "com.example": 1}


def test_unnamed_and_duplicate_names_get_unique_ids():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"], name="r"),
             helper.make_node("Relu", ["b"], ["y"], name="r")]
    graph = helper.make_graph(nodes, "dup", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    g = to_graph(onnx.helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    assert op_nodes(g) == ["op:Relu_0", "op:r", "op:r#2"]


def test_loop_body_is_wired_to_its_parent():
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "step"], ["acc_out"], name="body_add"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond")],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [2])],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "", "x"], ["y"], name="loop", body=body)], "looped",
        [helper.make_tensor_value_info("n", TensorProto.INT64, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.ones(2, np.float32), "step")],
    )
    g = to_graph(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    assert g.nodes["op:body_add"]["scope"] == "loop.body" and g.nodes["op:body_add"]["parent"] == "op:loop"
    assert g.get_edge_data("op:loop", "op:body_add")[0]["tensor"] == "acc_in"  # a formal input
    assert g.has_edge("initializer:step", "op:body_add")  # read from the outer graph
    back = g.get_edge_data("op:body_add", "op:loop")
    assert [d["slot"] for d in back.values()] == [None] and [d["tensor"] for d in back.values()] == ["acc_out"]
    assert g.nodes["op:loop"]["subgraphs"] == {"body": 2}
