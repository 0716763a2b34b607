"""converter/viewers/explorer.py: Model Explorer node data, and `graphtool view` serving it for real."""

from __future__ import annotations

import json
import re

import onnx
import pytest
from graph_models import base_model
from viewers_helpers import PYTHON, SCREENSHOTS, browser_page, free_port, server

from converter.graphs.diff import diff_graphs
from converter.graphs.graph import to_graph
from converter.viewers.explorer import STATUS_COLOURS, diff_node_data, error_node_data, with_namespaces


def test_diff_node_data_marks_each_side_in_model_explorers_format():
    ga, gb = to_graph(base_model()), to_graph(base_model(insert=True, remove=True, attr=True, weights=True))
    data_a, data_b = diff_node_data(ga, gb, diff_graphs(ga, gb))
    assert data_a["cnn"]["results"] == {
        "blocks.0/a/sigmoid": {"value": "removed", "bgColor": STATUS_COLOURS["removed"], "textColor": "#ffffff"},
        "head/fc": {"value": "changed", "bgColor": STATUS_COLOURS["changed"], "textColor": "#ffffff"}}
    values = {name: entry["value"] for name, entry in data_b["cnn"]["results"].items()}
    assert values == {"blocks.0/relu": "added", "head/fc": "changed", "blocks.0/b/conv": "weight changed"}


def test_error_node_data_is_a_gradient_over_the_located_node_and_its_inputs():
    import tempfile
    from pathlib import Path

    from converter.api import validate

    with tempfile.TemporaryDirectory() as folder:
        a, w = Path(folder) / "a.onnx", Path(folder) / "w.onnx"
        onnx.save(base_model(), a)
        onnx.save(base_model(weights=True), w)
        report = validate(str(a), str(w), locate=True).to_dict()
    data = error_node_data(to_graph(base_model(weights=True)), report)["cnn"]
    assert data["results"]["blocks.0/b/conv"]["value"] == pytest.approx(report["located"]["max_abs"])
    assert data["results"]["stem/relu"]["value"] == 0.0
    assert [stop["stop"] for stop in data["gradient"]] == [0, 0.5, 1]


def test_namespaces_fold_graphtool_scopes():
    model = with_namespaces(base_model())
    spaces = {node.name: {p.key: p.value for p in node.metadata_props}.get("namespace") for node in model.graph.node}
    assert spaces["blocks.0/b/conv"] == "/blocks.0/b" and spaces["head/fc"] == "/head"


@pytest.mark.external
def test_view_serves_both_models_with_the_diff_overlay(tmp_path):
    pytest.importorskip("model_explorer", reason="the explorer extra (ai-edge-model-explorer)")
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(base_model(), a)
    onnx.save(base_model(insert=True, remove=True, attr=True, weights=True), b)
    port = free_port()
    log = tmp_path / "view.log"
    command = [PYTHON, "-m", "converter", "view", str(a), "--against", str(b), "--port", str(port), "--no-browser"]
    with server(command, f"http://127.0.0.1:{port}/", log):
        url = re.search(r"(http://127\.0\.0\.1:\d+/\?data=\S+)", log.read_text()).group(1)
        config = json.loads(__import__("urllib.parse").parse.unquote(url.split("data=", 1)[1]))
        assert [m["url"].rsplit("/", 1)[1] for m in config["models"]] == ["a_a.onnx", "b_b.onnx"]
        with browser_page() as page:
            page.goto(url)
            page.get_by_text("diff_0.json").first.wait_for(timeout=30000)
            page.get_by_text("removed", exact=True).first.wait_for()  # the Sigmoid's value in the node data table
            text = page.inner_text("body")
            assert "NODE DATA PROVIDERS" in text.upper() and "Sigmoid" in text
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "model_explorer.png"))
