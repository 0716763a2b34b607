"""converter/viewers/{data,html}.py and the --html / --format html options, checked in a real Chromium."""

from __future__ import annotations

import json
import re
import time

import onnx
import pytest
from conftest import ROOT
from graph_models import base_model, layered_model
from typer.testing import CliRunner
from viewers_helpers import SCREENSHOTS, browser_page

from converter.cli import app
from converter.graphs.diff import diff_graphs
from converter.graphs.graph import to_graph
from converter.viewers.data import diff_view, model_view
from converter.viewers.html import to_html

runner = CliRunner()


@pytest.fixture()
def models(tmp_path):
    paths = {"a": tmp_path / "a.onnx", "b": tmp_path / "b.onnx", "w": tmp_path / "w.onnx"}
    onnx.save(base_model(), paths["a"])
    onnx.save(base_model(insert=True, remove=True, attr=True, weights=True), paths["b"])
    onnx.save(base_model(weights=True), paths["w"])
    return paths


def _data(page_html: str) -> dict:
    match = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page_html, re.S)
    return json.loads(match.group(1))


def test_diff_view_colours_each_kind_and_keeps_removed_nodes_wired():
    ga, gb = to_graph(base_model()), to_graph(base_model(insert=True, remove=True, attr=True, weights=True))
    view = diff_view(ga, gb, diff_graphs(ga, gb), "a → b")
    status = {n["id"]: n["status"] for n in view.nodes}
    assert status["op:blocks.0/relu"] == "added"
    assert status["a|op:blocks.0/a/sigmoid"] == "removed"
    assert status["op:head/fc"] == "changed"
    assert status["op:blocks.0/b/conv"] == "weight_changed"
    assert sum(1 for s in status.values() if s) == 4
    assert ("op:blocks.0/a/conv", "a|op:blocks.0/a/sigmoid", "[1,8,8,8]") in view.edges
    conv = next(n for n in view.nodes if n["id"] == "op:stem/conv")
    weight = next(w for w in conv["weights"] if w["name"] == "stem.weight")
    values = onnx.numpy_helper.to_array(base_model().graph.initializer[0])
    assert weight["shape"] == "[8,3,3,3]" and weight["max"] == pytest.approx(float(values.max()))


def test_page_is_self_contained_and_names_cannot_break_out_of_the_script():
    model = base_model()
    model.graph.node[0].name = "</script><script>alert(1)</script>"
    page = to_html(model_view(to_graph(model), "<b>title</b>"))
    assert _data(page)["nodes"][1]["name"] == "</script><script>alert(1)</script>"
    assert "<title>&lt;b&gt;title&lt;/b&gt;</title>" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from the network
    assert "var dagre=" in page


def test_render_diff_and_validate_write_html(models, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(app, ["render", str(models["a"]), "--format", "html", "-o", str(out / "a.html")])
    assert result.exit_code == 0, result.output
    assert len(_data((out / "a.html").read_text())["nodes"]) == 13
    result = runner.invoke(app, ["diff", str(models["a"]), str(models["b"]), "--html", str(out / "d.html")])
    assert result.exit_code == 0 and f"wrote HTML report {out / 'd.html'}" in result.output
    result = runner.invoke(app, ["validate", str(models["a"]), "--against", str(models["w"]), "--locate",
                                 "--html", str(out / "v.html")])
    assert result.exit_code == 1, result.output  # the weights differ: validation fails, the report is written
    nodes = {n["id"]: n for n in _data((out / "v.html").read_text())["nodes"]}
    assert nodes["op:blocks.0/b/conv"]["divergent"] and nodes["op:blocks.0/b/conv"]["error"] > 1
    assert nodes["op:stem/relu"]["error"] == 0.0


def test_bad_html_path_is_one_line_exit_2_and_nothing_written(models, tmp_path):
    result = runner.invoke(app, ["diff", str(models["a"]), str(models["b"]), "--html", str(tmp_path / "d.txt")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"graphtool: error: {tmp_path / 'd.txt'}: an HTML report needs a .html file name; pass e.g. --html report.html"]
    (tmp_path / "taken.html").write_text("mine")
    result = runner.invoke(app, ["render", str(models["a"]), "--format", "html", "-o", str(tmp_path / "taken.html")])
    assert result.exit_code == 2 and "already exists; pass --force" in result.output
    result = runner.invoke(app, ["validate", str(models["a"]), "--html", str(tmp_path / "taken.html")])
    assert result.exit_code == 2 and "already exists; pass --force" in result.output
    assert (tmp_path / "taken.html").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx", "taken.html", "w.onnx"]


@pytest.mark.external
def test_report_in_chromium_expands_scopes_colours_the_diff_and_shows_details(models, tmp_path):
    path = tmp_path / "diff.html"
    result = runner.invoke(app, ["diff", str(models["a"]), str(models["b"]), "--html", str(path)])
    assert result.exit_code == 0, result.output
    with browser_page() as page:
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        scopes = page.locator("g.scope")
        assert sorted(scopes.evaluate_all("els => els.map(e => e.dataset.scope)")) == ["blocks.0", "head", "stem"]
        assert page.locator("g.scope[data-scope='blocks.0']").get_attribute("data-status") == "removed"
        page.click("g.scope[data-scope='blocks.0']")
        assert page.locator("g.cluster[data-scope='blocks.0']").count() == 1
        assert sorted(page.locator("g.scope").evaluate_all("els => els.map(e => e.dataset.scope)")) == [
            "blocks.0/a", "blocks.0/b", "head", "stem"]
        added = page.locator("g.node[data-id='op:blocks.0/relu'] rect")
        assert added.evaluate("e => getComputedStyle(e).stroke") == "rgb(46, 157, 74)"
        page.click("g.scope[data-scope='blocks.0/a']")
        removed = page.locator("g.node[data-id='a|op:blocks.0/a/sigmoid'] rect")
        assert removed.evaluate("e => getComputedStyle(e).stroke") == "rgb(214, 69, 69)"
        page.fill("#search", "fc")
        page.click("#results .hit[data-id='op:head/fc']")
        details = page.locator("#panel").inner_text()
        assert "Gemm" in details and "alpha" in details and "0.5" in details and "diff\tchanged" in details
        assert "head.weight" in details and "float32 [10,8]" in details
        page.click("#fit")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "html_diff.png"))
        page.click("g.cluster[data-scope='blocks.0'] > text")
        assert page.locator("g.scope[data-scope='blocks.0']").count() == 1
        assert page.errors == []


@pytest.mark.external
def test_ten_thousand_nodes_open_collapsed_in_under_3_seconds(tmp_path):
    view = model_view(to_graph(layered_model(15012)), "10k")
    assert len(view.nodes) >= 10000
    path = tmp_path / "big.html"
    path.write_text(to_html(view))
    with browser_page() as page:
        start = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        elapsed = time.perf_counter() - start
        assert page.locator("g.scope").count() == 67  # stage.0 ... stage.66: one box each
        page.click("g.scope[data-scope='stage.3']")
        assert page.locator("g.scope").count() == 66 + 25  # only stage.3's blocks are laid out
        assert page.locator("g.node").count() == 3  # x, y and the final Identity
    print(f"10k-node report opened in {elapsed:.2f} s")
    assert elapsed < 3.0


def test_vendored_layout_library_has_version_and_licence():
    folder = ROOT / "converter" / "viewers" / "static" / "dagre"
    assert "MIT License" in (folder / "LICENSE").read_text() or "Permission is hereby granted" in (
        folder / "LICENSE").read_text()
    assert "@dagrejs/dagre 3.1.3" in (folder / "VERSION").read_text()
