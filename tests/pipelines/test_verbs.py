"""api.diff and api.render (and their viewer outputs): frozen results whose to_dict() is what `--json` prints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import onnx
import pytest
from graph_models import base_model, rename_all

from converter import api
from converter.core.errors import GraphtoolError
from converter.pipelines.graph_verbs import DiffResult, RenderResult
from converter.viewers.outputs import ViewOutput


@pytest.fixture()
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    onnx.save(base_model(), "a.onnx")
    onnx.save(base_model(insert=True), "b.onnx")
    onnx.save(rename_all(base_model(), seed=2), "renamed.onnx")
    return tmp_path


def test_diff_result_is_false_when_the_models_differ(files):
    result = api.diff("a.onnx", "b.onnx")
    assert isinstance(result, DiffResult) and not result
    assert result.diff.summary["added"] == 1 and result.written is None
    document = result.to_dict()
    assert document["schema"] == "graphtool.diff/1" and "renames" not in document and "render" not in document
    assert document["a"]["path"].endswith("a.onnx") and document["b"]["format"] == "onnx"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.written = None  # type: ignore[misc]


def test_diff_result_is_true_for_a_renamed_copy_and_lists_renames_on_request(files):
    result = api.diff("a.onnx", "renamed.onnx")
    assert result
    assert len(result.to_dict(renames=True)["renames"]) == 19


def test_diff_in_memory_models_with_a_drawing(files):
    result = api.diff(base_model(), base_model(weights=True), render_to="out/d.dot", atol=0.0)
    assert result.written is not None and result.written.output == Path("out/d.dot")
    assert result.to_dict()["render"]["format"] == "dot"
    assert "ModelProto → ModelProto" in (files / "out" / "d.dot").read_text()


def test_diff_refuses_to_overwrite_a_drawing_before_loading(files):
    (files / "d.dot").write_text("keep")
    with pytest.raises(GraphtoolError, match="--force"):
        api.diff("a.onnx", "missing.onnx", render_to="d.dot")


def test_render_result_default_path_and_document(files):
    result = api.render("a.onnx", fmt="dot", depth=0)
    assert isinstance(result, RenderResult)
    assert result.written.output == Path("graphviz_out/a.dot") and (files / "graphviz_out" / "a.dot").exists()
    document = result.to_dict()
    assert document["output"] == "graphviz_out/a.dot" and document["rendering"]["boxes"] == 3
    assert document["notes"] == list(result.notes) == []


def test_render_of_an_in_memory_model_is_named_model(files):
    result = api.render(base_model(), fmt="dot")
    assert result.written.output == Path("graphviz_out/model.dot")


def test_render_rejects_an_unknown_format_before_loading(files):
    with pytest.raises(GraphtoolError, match="unknown diagram format 'gif'"):
        api.render("missing.onnx", "x.gif")


def test_render_html_returns_the_view_written(files):
    result = api.render("a.onnx", fmt="html")
    assert isinstance(result, ViewOutput) and result.viewer == "html"
    assert result.path == Path("graphviz_out/a.html") and (files / "graphviz_out" / "a.html").exists()
    assert result.to_dict() == {"viewer": "html", "path": "graphviz_out/a.html", "nodes": result.nodes}


def test_diff_views_are_in_the_result_and_its_document(files):
    result = api.diff("a.onnx", "b.onnx", html="d.html")
    assert [view.viewer for view in result.views] == ["html"] and (files / "d.html").exists()
    assert result.to_dict()["views"] == [result.views[0].to_dict()]
    assert api.diff("a.onnx", "b.onnx").to_dict()["views"] == []


def test_viewer_paths_are_refused_before_loading(files):
    with pytest.raises(GraphtoolError, match="needs a .html file name"):
        api.diff("missing.onnx", "missing.onnx", html="d.txt")
    (files / "logs").write_text("a file")
    with pytest.raises(GraphtoolError, match="not a folder"):
        api.validate("missing.onnx", tensorboard="logs")
    (files / "taken.html").write_text("keep")
    with pytest.raises(GraphtoolError, match="--force"):
        api.render("missing.onnx", "taken.html")


def test_validate_views_keep_the_report_schema(files):
    onnx.save(base_model(weights=True), "w.onnx")
    report = api.validate("a.onnx", "w.onnx", samples=1, locate=True, html="v.html")
    assert isinstance(report, api.ValidationReport) and (files / "v.html").exists()
    document = report.to_dict()
    assert document["schema"] == "graphtool.validate/1" and document["views"][0]["viewer"] == "html"
    assert api.validate("a.onnx", samples=1).to_dict()["views"] == []
