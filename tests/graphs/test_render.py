"""Graphviz output: clusters, collapsing, focus, diff colours, golden .dot files and real SVGs."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from graph_models import base_model, control_flow_model, layered_model

from converter.core.errors import GraphtoolError
from converter.graphs.diff import diff_graphs
from converter.graphs.files import output_format, write_rendering
from converter.graphs.graph import to_graph
from converter.graphs.render import STATUS_COLORS, render_diff, render_graph

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REGEN = os.environ.get("GRAPHTOOL_REGEN_GOLDEN") == "1"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/<name>; GRAPHTOOL_REGEN_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN / name
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with GRAPHTOOL_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def nodes_of(source: str) -> dict[str, str]:
    """DOT node id -> its attribute text."""
    found = re.findall(r'^\s*(n\d+) \[(label=".*?".*?)\]$', source, flags=re.M | re.S)
    return dict(found)


def clusters_of(source: str) -> list[str]:
    return re.findall(r"subgraph (cluster_\d+) \{\s*[^\n]*label=(\"[^\"]*\"|\S+)", source)


@pytest.fixture(scope="module")
def cnn():
    return to_graph(base_model())


def test_full_graph(cnn):
    rendering = render_graph(cnn, title="cnn")
    check_golden("cnn.dot", rendering.source)
    assert rendering.items == cnn.number_of_nodes() == 19 and rendering.boxes == 0
    labels = [label.strip('"') for _, label in clusters_of(rendering.source)]
    assert labels == ["stem", "blocks.0", "a", "b", "head"]
    nodes = nodes_of(rendering.source)
    assert len(nodes) == 19
    assert sum("shape=invhouse" in attrs for attrs in nodes.values()) == 1
    assert sum("shape=house" in attrs for attrs in nodes.values()) == 1
    assert sum("shape=note" in attrs for attrs in nodes.values()) == 6
    assert any('label="Conv\nblocks.0/b/conv\n[1,8,8,8]"' in attrs for attrs in nodes.values())
    assert any('label="blocks.0.b.weight\n[8,8,3,3]"' in attrs for attrs in nodes.values())


def test_depth_collapses_scopes_into_counted_boxes(cnn):
    rendering = render_graph(cnn, depth=0)
    check_golden("cnn_depth0.dot", rendering.source)
    assert rendering.boxes == 3 and rendering.items == 5
    boxes = [attrs for attrs in nodes_of(rendering.source).values() if "box3d" in attrs]
    assert any('label="blocks.0\n5 ops\n(2 Conv, 1 Sigmoid, 1 Tanh, …)"' in attrs for attrs in boxes)
    assert any('label="head\n4 ops' in attrs for attrs in boxes)
    assert clusters_of(rendering.source) == []


def test_expand_opens_one_scope(cnn):
    rendering = render_graph(cnn, depth=0, expand=["blocks.0"])
    check_golden("cnn_expand.dot", rendering.source)
    labels = [label.strip('"') for _, label in clusters_of(rendering.source)]
    assert labels == ["blocks.0"]
    boxes = [attrs for attrs in nodes_of(rendering.source).values() if "box3d" in attrs]
    assert len(boxes) == 4  # stem, head, and blocks.0's children a and b


def test_focus_draws_a_neighbourhood(cnn):
    rendering = render_graph(cnn, focus_node="blocks.0/add", radius=1)
    check_golden("cnn_focus.dot", rendering.source)
    nodes = nodes_of(rendering.source)
    assert len(nodes) == 4  # the Add, both branch outputs, the pool
    assert sum("penwidth=3" in attrs for attrs in nodes.values()) == 1


def test_unknown_names_list_the_closest(cnn):
    with pytest.raises(GraphtoolError, match=r"unknown scope 'block.0'; closest: blocks.0"):
        render_graph(cnn, expand=["block.0"])
    with pytest.raises(GraphtoolError, match=r"unknown node 'blocks.0/ad'; closest: blocks.0/add"):
        render_graph(cnn, focus_node="blocks.0/ad")


def test_diff_colours(cnn):
    b = to_graph(base_model(insert=True, remove=True, attr=True, weights=True))
    rendering = render_diff(cnn, b, diff_graphs(cnn, b))
    check_golden("cnn_diff.dot", rendering.source)
    nodes = nodes_of(rendering.source)

    def coloured(state: str) -> list[str]:
        return [attrs for attrs in nodes.values() if f'fillcolor="{STATUS_COLORS[state][1]}"' in attrs]

    assert len(coloured("added")) == 1 and "Relu" in coloured("added")[0]
    assert len(coloured("removed")) == 1 and "Sigmoid" in coloured("removed")[0]
    changed = coloured("changed")
    assert len(changed) == 2
    assert any("alpha: 1.0 → 0.5" in attrs for attrs in changed)
    assert any("max |Δ| 0.25" in attrs for attrs in changed)
    assert any("unchanged" in attrs and "box3d" in attrs for attrs in coloured("unchanged"))


def test_diff_collapses_unchanged_regions():
    a = to_graph(layered_model(900))
    b = to_graph(layered_model(900, edit_every=100))
    rendering = render_diff(a, b, diff_graphs(a, b))
    assert rendering.items == 13 and rendering.boxes == 4
    assert 'label="450 ops unchanged"' in rendering.source  # stages 0-2 folded into one box
    assert len(re.findall(STATUS_COLORS["changed"][1], rendering.source)) == 2


def test_diff_touching_everything_is_collapsed_to_the_budget():
    a = to_graph(layered_model(900))
    b = to_graph(layered_model(900, edit_every=1))
    rendering = render_diff(a, b, diff_graphs(a, b), max_nodes=40)
    assert rendering.items <= 40 and "collapsed" in rendering.notes[0]
    boxes = [attrs for attrs in nodes_of(rendering.source).values() if "box3d" in attrs]
    assert boxes and all(STATUS_COLORS["changed"][1] in attrs for attrs in boxes)
    assert all(re.search(r"\d+ changed", attrs) for attrs in boxes)


def test_huge_graph_is_collapsed_to_the_budget():
    g = to_graph(layered_model(3000))
    rendering = render_graph(g, max_nodes=100)
    assert rendering.items <= 100 and rendering.depth == 0
    assert "too many to lay out legibly" in rendering.notes[0] and "--expand" in rendering.notes[0]
    everything = render_graph(g, max_nodes=0)
    assert everything.items == g.number_of_nodes()
    assert [note for note in everything.notes if "clusters" not in note] == []  # nothing folded, clusters merged


def test_huge_flat_graph_is_cut_into_segments():
    g = to_graph(layered_model(3000, scoped=False))
    rendering = render_graph(g, max_nodes=100)
    assert rendering.items <= 100
    assert "consecutive nodes" in rendering.notes[0]
    assert re.search(r'label="nodes \d+–\d+\n\d+ ops', rendering.source)


def test_control_flow_bodies_are_clusters():
    rendering = render_graph(to_graph(control_flow_model()))
    labels = [label.strip('"') for _, label in clusters_of(rendering.source)]
    assert labels == ["block", "branch.then_branch", "branch.else_branch"] or labels == [
        "block", "branch.else_branch", "branch.then_branch"]


def test_output_format():
    assert output_format(Path("a.png"), None) == "png"
    assert output_format(Path("a.png"), "pdf") == "pdf"
    assert output_format(Path("a"), None) == "svg"
    with pytest.raises(GraphtoolError, match="unknown diagram format 'jpeg'"):
        output_format(Path("a.jpeg"), None)


def test_without_dot_only_the_dot_file_is_written(cnn, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    written = write_rendering(render_graph(cnn), tmp_path / "out" / "cnn.svg", "svg")
    assert written.output is None and written.dot == tmp_path / "out" / "cnn.dot"
    assert written.dot.read_text().startswith("digraph")
    assert "apt-get install graphviz" in written.notes[0]


def test_dot_format_writes_only_the_source(cnn, tmp_path):
    written = write_rendering(render_graph(cnn), tmp_path / "cnn.dot", "dot")
    assert written.output == written.dot == tmp_path / "cnn.dot"
    assert not list(tmp_path.glob("*.svg"))


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_renders_with_graphviz(cnn, tmp_path, fmt):
    written = write_rendering(render_graph(cnn), tmp_path / f"cnn.{fmt}", fmt)
    assert written.output == tmp_path / f"cnn.{fmt}" and written.notes == ()
    data = written.output.read_bytes()
    assert data.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in data


@needs_dot
def test_renders_a_diff_svg(cnn, tmp_path):
    b = to_graph(base_model(insert=True))
    written = write_rendering(render_diff(cnn, b, diff_graphs(cnn, b)), tmp_path / "diff.svg", "svg")
    assert STATUS_COLORS["added"][1] in written.output.read_text()
