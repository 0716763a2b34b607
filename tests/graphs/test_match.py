"""The structural matcher: which node of B each node of A is, with names only breaking ties."""

from __future__ import annotations

import onnx
import pytest
from graph_models import base_model, control_flow_model, rename_all
from onnx import TensorProto, helper

from converter.graphs.graph import to_graph
from converter.graphs.match import match_graphs


def _edges(g) -> set[tuple[str, str, object]]:
    return {(u, v, key) for u, v, key in g.edges(keys=True)}


def _assert_structure_kept(ga, gb, matches: dict[str, str]) -> None:
    """Every matched pair is the same sort of node, and every edge of A is an edge of B between partners."""
    for node_a, node_b in matches.items():
        da, db = ga.nodes[node_a], gb.nodes[node_b]
        assert da["kind"] == db["kind"], (node_a, node_b)
        if da["kind"] == "op":
            assert (da["op_type"], da["attributes"]) == (db["op_type"], db["attributes"]), (node_a, node_b)
        if da["kind"] == "initializer":
            assert da["hash"] == db["hash"], (node_a, node_b)
    edges_b = _edges(gb)
    for u, v, key in _edges(ga):
        assert (matches[u], matches[v], key) in edges_b, (u, v, key)


@pytest.mark.parametrize("make", [base_model, control_flow_model], ids=["cnn", "control_flow"])
def test_a_model_matches_itself_node_for_node(make):
    ga, gb = to_graph(make()), to_graph(make())
    assert match_graphs(ga, gb) == {node: node for node in ga}


def test_every_name_changed_and_branches_reordered_still_match_everything():
    ga = to_graph(base_model())
    gb = to_graph(rename_all(base_model(reorder=True), seed=4))
    matches = match_graphs(ga, gb)
    assert len(matches) == len(ga) == len(gb) == 19
    assert len(set(matches.values())) == 19
    _assert_structure_kept(ga, gb, matches)
    # the two Convs with pads sit in different places: the stem's reads the input, branch b's the stem
    assert gb.graph["inputs"][0] in {u for u, _ in gb.in_edges(matches["op:stem/conv"])}


def test_an_inserted_node_is_the_only_one_left_unmatched():
    ga, gb = to_graph(base_model()), to_graph(base_model(insert=True))
    matches = match_graphs(ga, gb)
    assert set(ga) == set(matches)
    assert set(gb) - set(matches.values()) == {"op:blocks.0/relu"}
    assert matches["op:blocks.0/add"] == "op:blocks.0/add"
    assert matches["op:head/pool"] == "op:head/pool"


def test_an_op_whose_type_and_name_changed_is_paired_by_position():
    changed = base_model()
    sigmoid = next(node for node in changed.graph.node if node.name == "blocks.0/a/sigmoid")
    sigmoid.op_type, sigmoid.name = "HardSigmoid", "something_else"
    matches = match_graphs(to_graph(base_model()), to_graph(changed))
    assert matches["op:blocks.0/a/sigmoid"] == "op:something_else"


def test_a_removed_node_leaves_its_neighbours_matched():
    ga, gb = to_graph(base_model()), to_graph(base_model(remove=True))
    matches = match_graphs(ga, gb)
    assert set(ga) - set(matches) == {"op:blocks.0/a/sigmoid"}
    assert set(matches.values()) == set(gb)
    assert matches["op:blocks.0/a/conv"] == "op:blocks.0/a/conv"


def _twins(order: tuple[str, str]) -> onnx.ModelProto:
    """Two identical Relu branches from one input, listed in the given order."""
    nodes = {
        "left": helper.make_node("Relu", ["x"], ["l"], name="left"),
        "right": helper.make_node("Relu", ["x"], ["r"], name="right"),
    }
    graph = helper.make_graph(
        [nodes[name] for name in order], "twins",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("l", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("r", TensorProto.FLOAT, [2])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_names_break_ties_between_identical_nodes_whatever_their_order():
    matches = match_graphs(to_graph(_twins(("left", "right"))), to_graph(_twins(("right", "left"))))
    assert matches["op:left"] == "op:left" and matches["op:right"] == "op:right"
    assert matches["output:l"] == "output:l" and matches["output:r"] == "output:r"


def test_unique_weights_anchor_even_when_everything_else_is_renamed():
    ga = to_graph(base_model())
    gb = to_graph(rename_all(base_model(), seed=1))
    matches = match_graphs(ga, gb, rounds=0)  # no neighbourhood hashes: weights and propagation alone
    assert len(matches) == 19
    for node, data in ga.nodes(data=True):
        if data["kind"] == "initializer":
            assert gb.nodes[matches[node]]["hash"] == data["hash"]
    _assert_structure_kept(ga, gb, matches)
