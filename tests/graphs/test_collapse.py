"""What a diagram draws: scopes folded by depth or budget, runs of nodes, diff regions, focus and names."""

from __future__ import annotations

import pytest
from graph_models import base_model, layered_model

from converter.core.errors import GraphtoolError
from converter.graphs.collapse import (
    all_scopes,
    draw_scope,
    focus,
    plan_diff,
    plan_scopes,
    resolve_node,
    resolve_scopes,
)
from converter.graphs.graph import to_graph


@pytest.fixture(scope="module")
def cnn():
    return to_graph(base_model())


def test_all_scopes_lists_every_level(cnn):
    assert all_scopes(cnn) == ["blocks.0", "blocks.0/a", "blocks.0/b", "head", "stem"]


def test_a_weight_is_drawn_with_its_first_user_and_io_at_the_top(cnn):
    assert draw_scope(cnn, "initializer:blocks.0.b.weight") == "blocks.0/b"
    assert draw_scope(cnn, "initializer:head.bias") == "head"
    assert draw_scope(cnn, "op:blocks.0/add") == "blocks.0"
    assert draw_scope(cnn, "input:x") == "" and draw_scope(cnn, "output:y") == ""


def test_scope_names_are_normalized_and_unknown_ones_name_the_closest(cnn):
    assert resolve_scopes(cnn, ["/blocks.0/a/", "head"]) == ("blocks.0/a", "head")
    with pytest.raises(GraphtoolError, match=r"unknown scope 'blocks.O'; closest: blocks.0"):
        resolve_scopes(cnn, ["blocks.O"])


def test_nodes_resolve_by_id_or_name(cnn):
    assert resolve_node(cnn, "op:head/fc") == "op:head/fc"
    assert resolve_node(cnn, "head/fc") == "op:head/fc"
    assert resolve_node(cnn, "stem.weight") == "initializer:stem.weight"
    with pytest.raises(GraphtoolError, match=r"unknown node 'head/fcc'; closest: head/fc"):
        resolve_node(cnn, "head/fcc")


def test_focus_keeps_the_neighbourhood_in_model_order(cnn):
    part = focus(cnn, "op:head/fc", 1)
    assert list(part) == ["initializer:head.weight", "initializer:head.bias", "op:head/flatten", "op:head/fc",
                          "op:head/softmax"]
    assert part.number_of_edges() == 4
    assert len(focus(cnn, "op:head/fc", 0)) == 1


def test_depth_zero_folds_each_top_level_scope(cnn):
    plan = plan_scopes(cnn, depth=0)
    assert plan.depth == 0 and plan.items == 5 and plan.notes == ()
    assert plan.item_of["op:stem/conv"] == ("scope", "stem")
    assert plan.item_of["initializer:head.weight"] == ("scope", "head")
    assert plan.item_of["op:blocks.0/b/tanh"] == ("scope", "blocks.0")
    assert plan.item_of["input:x"] == "input:x" and plan.item_of["output:y"] == "output:y"


def test_expand_opens_a_scope_and_its_ancestors(cnn):
    plan = plan_scopes(cnn, depth=0, expand=["blocks.0/a"])
    assert plan.item_of["op:blocks.0/a/conv"] == "op:blocks.0/a/conv"
    assert plan.item_of["initializer:blocks.0.a.weight"] == "initializer:blocks.0.a.weight"
    assert plan.item_of["op:blocks.0/add"] == "op:blocks.0/add"
    assert plan.item_of["op:blocks.0/b/conv"] == ("scope", "blocks.0/b")
    assert plan.item_of["op:stem/relu"] == ("scope", "stem")


def test_no_depth_and_a_graph_within_budget_draws_everything(cnn):
    plan = plan_scopes(cnn, budget=300)
    assert plan.depth is None and plan.items == len(cnn)
    assert all(item == node for node, item in plan.item_of.items())


def test_a_budget_picks_the_deepest_depth_that_fits():
    big = to_graph(layered_model(300))
    assert len(big) == 300
    plan = plan_scopes(big, budget=40)
    assert (plan.depth, plan.items) == (1, 36)  # 33 blocks, x, y and the final Identity
    assert plan.item_of["op:s0.mm1"] == ("scope", "stage.0/block.0")
    assert "scopes deeper than 1 are collapsed (36 items drawn, budget 40)" in plan.notes[0]
    assert (plan_scopes(big, budget=10).depth, plan_scopes(big, budget=10).items) == (0, 5)


def test_without_scopes_runs_of_consecutive_nodes_become_segments():
    flat = to_graph(layered_model(300, scoped=False))
    plan = plan_scopes(flat, budget=50)
    assert plan.depth is None and plan.items == 45
    assert "runs of 7 consecutive nodes are drawn as one box" in plan.notes[0]
    assert plan.item_of["initializer:s0.w1"] == ("segment", 0)
    assert plan.item_of["input:x"] == "input:x"


def test_a_diff_shows_changes_and_folds_unchanged_neighbours_into_regions(cnn):
    plan = plan_diff(cnn, {"op:head/fc": "changed"}, context=0)
    shown = {node for node, item in plan.item_of.items() if item == node}
    assert shown == {"input:x", "output:y", "op:head/fc", "initializer:head.weight", "initializer:head.bias"}
    assert plan.item_of["op:stem/conv"] == plan.item_of["op:blocks.0/add"] == ("region", "", 0)
    assert plan.item_of["op:head/pool"] == plan.item_of["op:head/flatten"] == ("region", "head", 0)
    assert plan.item_of["op:head/softmax"] == ("region", "head", 1)
    assert plan.items == 8


def test_a_diff_keeps_the_name_of_a_lone_unchanged_scope(cnn):
    plan = plan_diff(cnn, {"op:stem/relu": "changed", "op:head/pool": "changed"}, context=0)
    assert plan.item_of["op:blocks.0/a/sigmoid"] == plan.item_of["op:blocks.0/add"] == ("scope", "blocks.0")
    assert plan.item_of["op:stem/conv"] == ("region", "stem", 0)


def test_diff_context_draws_neighbours_too(cnn):
    plan = plan_diff(cnn, {"op:head/fc": "changed"}, context=1)
    assert plan.item_of["op:head/flatten"] == "op:head/flatten"
    assert plan.item_of["op:head/softmax"] == "op:head/softmax"
    assert plan.item_of["op:head/pool"] == ("region", "head", 0)
