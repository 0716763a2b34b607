"""api.diff and api.render: frozen results whose to_dict() is what `--json` prints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import onnx
import pytest
from graph_models import base_model, rename_all

from converter import api
from converter.errors import GraphtoolError
from converter.graphs.verbs import DiffResult, RenderResult


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
