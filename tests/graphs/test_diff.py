"""Diffs of model pairs with known edits: exactly the expected changes, none spurious."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import onnx
import pytest
from graph_models import EDITS, base_model, control_flow_model, layered_model, rename_all, unrelated_model

from converter.graphs.diff import Diff, diff_graphs
from converter.graphs.graph import to_graph

# What each edit must produce: (kind, name in A or None, op type in B or None, changed fields).
EXPECTED = {
    "reorder": set(),
    "insert": {("added", None, "Relu", ())},
    "remove": {("removed", "blocks.0/a/sigmoid", None, ())},
    "attr": {("changed", "head/fc", "Gemm", ("attr:alpha",))},
    "weights": {("weight_changed", "blocks.0.b.weight", None, ("values",))},
    "shape": {
        ("output_changed", "y", None, ("shape",)),
        ("weight_changed", "head.weight", None, ("shape",)),
        ("weight_changed", "head.bias", None, ("shape",)),
    },
    "opset": {("opset_changed", None, None, ("opset:ai.onnx",))},
}


def _edited(edits, rename=True) -> onnx.ModelProto:
    kwargs = {edit: True for edit in edits if edit != "opset"}
    if "opset" in edits:
        kwargs["opset"] = 17
    model = base_model(**kwargs)
    return rename_all(model, seed=len(edits)) if rename else model


def _signature(diff: Diff) -> set[tuple]:
    return {
        (c.kind, c.a.name if c.a else None, c.b.op_type if c.b else None, tuple(f.field for f in c.fields))
        for c in diff.changes
    }


@pytest.fixture(scope="module")
def base():
    return to_graph(base_model())


@pytest.mark.parametrize("rename", [True, False], ids=["renamed", "same-names"])
@pytest.mark.parametrize("edit", EDITS)
def test_single_edit(base, edit, rename):
    diff = diff_graphs(base, to_graph(_edited([edit], rename)))
    assert _signature(diff) == EXPECTED[edit]
    assert diff.identical == (not EXPECTED[edit])


@pytest.mark.parametrize("edits", list(itertools.combinations(EDITS, 2)), ids="+".join)
def test_pairs_of_edits(base, edits):
    diff = diff_graphs(base, to_graph(_edited(edits)))
    assert _signature(diff) == set().union(*(EXPECTED[e] for e in edits))


def test_all_edits_at_once(base):
    diff = diff_graphs(base, to_graph(_edited(EDITS)))
    assert _signature(diff) == set().union(*EXPECTED.values())
    assert diff.summary["added"] == 1 and diff.summary["removed"] == 1
    assert diff.summary["changed"] == 1 and diff.summary["weights_changed"] == 3


def test_renamed_only_is_identical_with_renames_on_request(base):
    renamed = to_graph(rename_all(base_model(), seed=7))
    diff = diff_graphs(base, renamed)
    assert diff.identical and diff.changes == ()
    assert len(diff.renames) == base.number_of_nodes()
    assert "renames" not in diff.to_dict()
    renames = {r["a"]["name"]: r["b"] for r in diff.to_dict(renames=True)["renames"]}
    conv = renames["blocks.0/b/conv"]
    assert renamed.nodes[conv["id"]]["op_type"] == "Conv"
    assert renamed.nodes[conv["id"]]["attributes"] == {"pads": [1, 1, 1, 1]}


def test_renames_follow_structure(base):
    renamed = to_graph(rename_all(base_model(reorder=True), seed=3))
    diff = diff_graphs(base, renamed)
    matches = dict(diff.matches)
    for node_a, node_b in matches.items():
        a, b = base.nodes[node_a], renamed.nodes[node_b]
        assert a["kind"] == b["kind"] and a.get("op_type") == b.get("op_type")
        if a["kind"] == "initializer":
            assert a["hash"] == b["hash"]
    assert len(matches) == base.number_of_nodes()


def test_weight_change_statistics(base):
    diff = diff_graphs(base, to_graph(_edited(["weights"])))
    (change,) = diff.changes
    assert change.max_abs_diff == pytest.approx(0.25, abs=1e-6)
    assert change.fraction_changed == pytest.approx(8 / (8 * 8 * 3 * 3))


def test_changed_op_type_is_one_change(base):
    model = rename_all(base_model(), seed=5)
    tanh = next(node for node in model.graph.node if node.op_type == "Tanh")
    tanh.op_type = "Elu"
    diff = diff_graphs(base, to_graph(model))
    assert _signature(diff) == {("changed", "blocks.0/b/tanh", "Elu", ("op_type",))}
    assert diff.changes[0].fields[0].to_dict() == {"field": "op_type", "old": "Tanh", "new": "Elu"}


def test_attribute_equal_to_its_default_is_not_a_change(base):
    model = base_model()
    flatten = next(node for node in model.graph.node if node.op_type == "Flatten")
    del flatten.attribute[:]  # axis=1 is Flatten's default
    assert diff_graphs(base, to_graph(rename_all(model))).identical


def test_io_signature_changes():
    a = to_graph(base_model())
    model = base_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    extra = onnx.helper.make_tensor_value_info("extra", onnx.TensorProto.FLOAT, [1])
    model.graph.input.append(extra)
    diff = diff_graphs(a, to_graph(rename_all(model)))
    kinds = sorted((c.kind, tuple((f.field, f.old, f.new) for f in c.fields)) for c in diff.changes)
    assert kinds == [
        ("input_added", (("signature", None, "float32[1]"),)),
        ("input_changed", (("shape", [1, 3, 8, 8], ["batch", 3, 8, 8]),)),
    ]
    assert diff.summary["io_changed"] == 2


def test_metadata_changes_ignore_graphtool_keys(base):
    model = base_model()
    model.producer_version = "2.0"
    model.metadata_props.add(key="graphtool.source_path", value="/somewhere/else.pt")
    model.metadata_props.add(key="license", value="MIT")
    diff = diff_graphs(base, to_graph(model))
    (change,) = diff.changes
    assert change.kind == "metadata_changed"
    assert [(f.field, f.old, f.new) for f in change.fields] == [
        ("producer_version", "", "2.0"), ("metadata:license", None, "MIT"),
    ]


def test_added_op_carries_its_own_weights():
    a = to_graph(layered_model(30))
    b = to_graph(rename_all(layered_model(39)))
    diff = diff_graphs(a, b)
    assert diff.summary["added"] == 6 and diff.summary["removed"] == 0 and diff.summary["changed"] == 0
    assert {c.kind for c in diff.changes} == {"added"}
    assert sorted(len(c.weights) for c in diff.changes) == [0, 0, 0, 1, 1, 1]


def test_no_common_structure_still_diffs(base):
    diff = diff_graphs(base, to_graph(unrelated_model()))
    assert not diff.common_structure and not diff.identical
    assert "no common structure" in diff.notes[0]
    assert diff.summary["removed"] >= 8 and diff.summary["added"] >= 3
    assert json.loads(json.dumps(diff.to_dict()))["common_structure"] is False


def test_subgraph_changes_are_found():
    a = to_graph(control_flow_model())
    model = control_flow_model()
    branch = next(node for node in model.graph.node if node.op_type == "If")
    else_graph = next(attr.g for attr in branch.attribute if attr.name == "else_branch")
    else_graph.node[1].op_type = "Relu"
    diff = diff_graphs(a, to_graph(model))
    assert _signature(diff) == {("changed", "else_abs", "Relu", ("op_type",))}
    assert diff.changes[0].scope == "block/branch.else_branch"


def test_json_document_schema(base):
    diff = diff_graphs(base, to_graph(_edited(["attr", "insert"])))
    document = json.loads(json.dumps(diff.to_dict()))
    assert document["schema"] == "graphtool.diff/1"
    assert document["identical"] is False and document["common_structure"] is True
    summary = document["summary"]
    for key in ("added", "removed", "changed", "weights_changed"):
        assert isinstance(summary[key], int)
    assert (summary["added"], summary["changed"]) == (1, 1)
    changed = next(c for c in document["changes"] if c["kind"] == "changed")
    assert changed["a"]["name"] == "head/fc" and changed["a"]["op_type"] == "Gemm"
    assert changed["a"]["scope"] == "head" and changed["b"]["op_type"] == "Gemm"
    assert changed["fields"] == [{"field": "attr:alpha", "old": 1.0, "new": 0.5}]
    added = next(c for c in document["changes"] if c["kind"] == "added")
    assert added["a"] is None and added["b"]["op_type"] == "Relu"


def test_diff_is_a_frozen_value(base):
    diff = diff_graphs(base, base)
    assert diff.identical and diff.renames == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        diff.changes = ()  # type: ignore[misc]


def test_diff_is_symmetric_in_counts(base):
    b = to_graph(_edited(["insert", "remove", "attr"]))
    forward, backward = diff_graphs(base, b), diff_graphs(b, base)
    assert forward.summary["added"] == backward.summary["removed"]
    assert forward.summary["removed"] == backward.summary["added"]
    assert forward.summary["changed"] == backward.summary["changed"]


@pytest.mark.parametrize("blocks", [40, 400])
def test_many_identical_blocks_with_sparse_edits(blocks):
    a = to_graph(layered_model(blocks * 9))
    b = to_graph(rename_all(layered_model(blocks * 9, edit_every=20), seed=11))
    diff = diff_graphs(a, b)
    edited = blocks // 20
    assert diff.summary["changed"] == edited and diff.summary["weights_changed"] == edited
    assert diff.summary["added"] == diff.summary["removed"] == 0
    changed_blocks = {int(c.a.name.split(".")[0][1:]) for c in diff.changes}
    assert changed_blocks == {k for k in range(blocks) if k % 20 == 19}


def test_weight_with_nan_values_compare_equal_to_themselves(base):
    model = base_model()
    weight = next(init for init in model.graph.initializer if init.name == "head.bias")
    values = np.full(10, np.nan, np.float32)
    weight.CopyFrom(onnx.numpy_helper.from_array(values, "head.bias"))
    a = to_graph(model)
    values[0] = 1.0
    weight.CopyFrom(onnx.numpy_helper.from_array(values, "head.bias"))
    diff = diff_graphs(a, to_graph(model))
    (change,) = diff.changes
    assert change.fraction_changed == pytest.approx(0.1)


def test_retrained_model_matches_by_structure_alone():
    a = to_graph(layered_model(900, seed=0))
    b = to_graph(rename_all(layered_model(909, seed=1)))  # new weights everywhere and one block more
    diff = diff_graphs(a, b)
    summary = diff.summary
    assert (summary["weights_changed"], summary["added"], summary["removed"], summary["changed"]) == (300, 6, 0, 0)
    added = sorted(c.b.op_type for c in diff.changes if c.kind == "added")
    assert added == ["Add", "Add", "LeakyRelu", "MatMul", "MatMul", "Tanh"]


def _chain(ops: list[str]) -> onnx.ModelProto:
    last = len(ops) - 1
    nodes = [onnx.helper.make_node(op, ["x" if i == 0 else f"t{i}"], ["y" if i == last else f"t{i + 1}"],
                                   name=f"n{i}") for i, op in enumerate(ops)]
    graph = onnx.helper.make_graph(
        nodes, "chain", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
    )
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])


@pytest.mark.parametrize(("old", "new", "expected"), [
    (["Relu"] * 10, ["Relu"] * 11, {("added", "Relu", ())}),
    (["Relu"] * 11, ["Relu"] * 10, {("removed", "Relu", ())}),
    (["Relu", "Tanh"] * 3, ["Relu", "Tanh", "Relu", "Sigmoid", "Tanh", "Relu", "Tanh"], {("added", "Sigmoid", ())}),
    (["Relu", "Tanh"] * 3, ["Relu", "Tanh", "Relu", "Elu", "Relu", "Tanh"], {("changed", "Elu", ("op_type",))}),
], ids=["insert-into-uniform-chain", "remove-from-uniform-chain", "insert-into-chain", "replace-in-chain"])
def test_chain_edits_with_nothing_but_structure(old, new, expected):
    diff = diff_graphs(to_graph(_chain(old)), to_graph(rename_all(_chain(new))))
    assert {(c.kind, (c.b or c.a).op_type, tuple(f.field for f in c.fields)) for c in diff.changes} == expected


def test_atol_hides_tiny_weight_differences(base):
    model = base_model()
    weight = next(init for init in model.graph.initializer if init.name == "stem.weight")
    values = onnx.numpy_helper.to_array(weight).copy()
    values.flat[:4] += 1e-7
    values.flat[4] += 0.5
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    b = to_graph(model)
    (exact,) = diff_graphs(base, b).changes
    assert exact.fraction_changed == pytest.approx(5 / values.size)
    (loose,) = diff_graphs(base, b, atol=1e-5).changes
    assert loose.fraction_changed == pytest.approx(1 / values.size)
    assert loose.max_abs_diff == pytest.approx(0.5)
    assert diff_graphs(base, b, atol=1.0).identical


def test_absent_pads_strides_dilations_mean_their_implied_values(base):
    model = base_model()
    conv = next(node for node in model.graph.node if node.name == "blocks.0/a/conv")
    conv.attribute.extend([onnx.helper.make_attribute("pads", [0, 0, 0, 0]),
                           onnx.helper.make_attribute("strides", [1, 1]),
                           onnx.helper.make_attribute("dilations", [1, 1])])
    assert diff_graphs(base, to_graph(model)).identical
    conv.attribute[-1].ints[:] = [2, 2]
    (change,) = diff_graphs(base, to_graph(model)).changes
    assert [(f.field, f.old, f.new) for f in change.fields] == [("attr:dilations", None, [2, 2])]
