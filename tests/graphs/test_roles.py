"""Constants by role: axes, shapes and indices are settings of the op that reads them, never weights."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from converter.graphs.diff import diff_graphs
from converter.graphs.graph import to_graph
from converter.graphs.roles import is_attribute_input, same_setting


def gap_cnn(*, axes=(2, 3), shape=(1, -1), producer: str = "pytorch", opset: int = 18, axes_attribute=False,
            scale_conv: float = 1.0, attributes: dict | None = None) -> onnx.ModelProto:
    """Conv -> ReduceMean over constant axes (global average pooling) -> Reshape to a constant shape -> Gemm;
    seeded, 4 channels on a 4x4 input so that pooling any two axes keeps every shape."""
    rng = np.random.default_rng(0)
    extra = attributes or {}
    weights = [
        numpy_helper.from_array(rng.standard_normal((4, 4, 3, 3)).astype(np.float32) * scale_conv, "conv.weight"),
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "conv.bias"),
        numpy_helper.from_array(np.array(shape, dtype=np.int64), "shape"),
        numpy_helper.from_array(rng.standard_normal((2, 4)).astype(np.float32), "fc.weight"),
        numpy_helper.from_array(rng.standard_normal(2).astype(np.float32), "fc.bias"),
    ]
    if axes_attribute:  # as opset 13 has it
        mean = helper.make_node("ReduceMean", ["c"], ["m"], name="mean", axes=list(axes), keepdims=0)
    else:
        weights.append(numpy_helper.from_array(np.array(axes, dtype=np.int64), "axes"))
        mean = helper.make_node("ReduceMean", ["c", "axes"], ["m"], name="mean", keepdims=0,
                                **extra.get("mean", {}))
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        mean,
        helper.make_node("Reshape", ["m", "shape"], ["r"], name="flat", **extra.get("flat", {})),
        helper.make_node("Gemm", ["r", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(nodes, "gap", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], weights)
    return helper.make_model(graph, producer_name=producer, opset_imports=[helper.make_opsetid("", opset)])


def _diff(a: onnx.ModelProto, b: onnx.ModelProto):
    return diff_graphs(to_graph(a), to_graph(b))


def _op_changes(diff) -> dict[str, list[tuple]]:
    return {c.a.name: [(f.field, f.old, f.new) for f in c.fields] for c in diff.changes if c.kind == "changed"}


def test_every_constant_has_a_role_from_the_op_that_reads_it():
    g = to_graph(gap_cnn())
    roles = {data["name"]: data["role"] for _, data in g.nodes(data=True) if data["kind"] == "initializer"}
    assert roles == {"conv.weight": "weight", "conv.bias": "weight", "fc.weight": "weight", "fc.bias": "weight",
                     "axes": "attribute", "shape": "attribute"}


def test_changed_reduce_axes_are_an_attribute_change_of_the_op_never_a_weight():
    diff = _diff(gap_cnn(axes=(2, 3)), gap_cnn(axes=(1, 2)))
    assert diff.summary["weights_changed"] == 0 and diff.summary["changed"] == 1
    assert _op_changes(diff) == {"mean": [("attr:axes", [2, 3], [1, 2])]}
    (change,) = [c for c in diff.to_dict()["changes"] if c["kind"] == "changed"]
    assert change["fields"] == [{"field": "attr:axes", "old": [2, 3], "new": [1, 2]}]


def test_changed_reshape_shape_is_an_attribute_change_of_the_op_never_a_weight():
    diff = _diff(gap_cnn(shape=(1, -1)), gap_cnn(shape=(1, 4)))
    assert diff.summary["weights_changed"] == 0
    assert _op_changes(diff) == {"flat": [("attr:shape", [1, -1], [1, 4])]}


def test_a_changed_weight_is_still_a_weight_change():
    diff = _diff(gap_cnn(), gap_cnn(scale_conv=1.5))
    assert diff.summary["weights_changed"] == 1 and diff.summary["changed"] == 0
    (change,) = [c for c in diff.changes if c.kind == "weight_changed"]
    assert change.a.name == "conv.weight"


def test_axes_counted_from_the_end_are_the_same_axes():
    """tf2onnx writes PyTorch's mean over [-1, -2] as [3, 2]: the same op."""
    diff = _diff(gap_cnn(axes=(-1, -2)), gap_cnn(axes=(3, 2), producer="tf2onnx"))
    assert {c.kind for c in diff.changes} == {"metadata_changed"}


def test_axes_a_layout_change_moved_are_reported_as_an_attribute_not_a_weight():
    """NCHW's [2, 3] is NHWC's [1, 2] only if the op's input was transposed: a setting that differs, said so."""
    diff = _diff(gap_cnn(axes=(2, 3)), gap_cnn(axes=(1, 2), producer="tf2onnx"))
    assert diff.summary["weights_changed"] == 0 and diff.summary["constants_folded"] == 0
    assert _op_changes(diff) == {"mean": [("attr:axes", [2, 3], [1, 2])]}


def test_axes_as_an_attribute_in_an_older_opset_equal_the_same_axes_as_an_input():
    for newer in (gap_cnn(opset=18), gap_cnn(opset=18, attributes={"mean": {"noop_with_empty_axes": 0}})):
        diff = _diff(gap_cnn(opset=13, axes_attribute=True), newer)
        assert {c.kind for c in diff.changes} == {"opset_changed"}


def test_attributes_that_cannot_matter_are_not_reported():
    """noop_with_empty_axes with axes given, allowzero with no 0 in the shape: tf2onnx sets both otherwise."""
    other = gap_cnn(axes=(3, 2), producer="tf2onnx",
                    attributes={"mean": {"noop_with_empty_axes": 1}, "flat": {"allowzero": 1}})
    diff = _diff(gap_cnn(axes=(-1, -2)), other)
    assert {c.kind for c in diff.changes} == {"metadata_changed"}
    zero = gap_cnn(shape=(1, 0), attributes={"flat": {"allowzero": 1}})
    assert _op_changes(_diff(gap_cnn(shape=(1, 0)), zero)) == {"flat": [("attr:allowzero", 0, 1)]}


def _concat(piece: int) -> onnx.ModelProto:
    """Shape arithmetic: Shape -> Concat with an integer constant -> Reshape; the constant is data, not a weight."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape", end=1),
             helper.make_node("Concat", ["s", "piece"], ["target"], name="cat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="flat")]
    graph = helper.make_graph(nodes, "cat", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array([piece], dtype=np.int64), "piece")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_an_integer_constant_read_as_data_is_compared_with_the_op_that_reads_it():
    ga, gb = to_graph(_concat(-1)), to_graph(_concat(6))
    assert ga.nodes["initializer:piece"]["role"] == "constant"
    diff = diff_graphs(ga, gb)
    assert diff.summary["weights_changed"] == 0
    assert _op_changes(diff) == {"cat": [("const[1]", [-1], [6])]}


@pytest.mark.parametrize(("op_type", "slot", "expected"), [
    ("ReduceMean", 1, True), ("ReduceSum", 1, True), ("Reshape", 1, True), ("Pad", 1, True), ("Pad", 2, True),
    ("Slice", 3, True), ("Gather", 1, True), ("ScatterND", 1, True), ("Unsqueeze", 1, True), ("Expand", 1, True),
    ("Tile", 1, True), ("Resize", 2, True), ("TopK", 1, True), ("Split", 1, True), ("ConstantOfShape", 0, True),
    ("Range", 2, True), ("Clip", 1, True),
    ("ReduceMean", 0, False), ("Gather", 0, False), ("Conv", 1, False), ("Gemm", 2, False), ("MatMul", 1, False),
    ("BatchNormalization", 3, False), ("LayerNormalization", 1, False), ("Concat", 1, False), ("Add", 1, False),
    ("ScatterND", 2, False), ("NoSuchOp", 1, False),
])
def test_attribute_like_inputs_come_from_the_op_schema(op_type, slot, expected):
    assert is_attribute_input(op_type, "", 18, slot) is expected


@pytest.mark.parametrize(("op_type", "old", "new", "ranks", "same"), [
    ("ReduceMean", [-1, -2], [2, 3], (4, 4), True),
    ("ReduceMean", [2, 3], [1, 2], (4, 4), False),
    ("ReduceMean", [-1], [3], (None, None), False),  # rank unknown: cannot tell
    ("Unsqueeze", [-1], [2], (2, 2), True),  # counts in the output's rank
    ("Slice", [0, 1], [1, 0], (2, 2), False),  # order pairs with starts and ends
    ("Slice", [-1], [1], (2, 2), True),
])
def test_same_axes_are_told_by_their_meaning(op_type, old, new, ranks, same):
    assert same_setting(op_type, "axes", old, new, ranks) is same
