"""converter/core/naming.py: the one naming rule (output_stem) and the served model name on top of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converter.core.naming import is_model_name, model_name, output_stem


@pytest.mark.parametrize(("source", "stem"), [
    ("models/cnn.onnx", "cnn"),
    (Path("models/cnn.onnx"), "cnn"),
    ("fixtures/tf/keras_cnn_savedmodel/", "keras_cnn_savedmodel"),  # a folder: its whole name
    ("models.py:encoder", "encoder"),  # a file.py:factory: the factory
    ("pkg.models:build_encoder", "build_encoder"),  # a package.module:factory too
    ("resnet.v2.onnx", "resnet.v2"),  # only the last suffix goes
    ("cnn.normalized.onnx", "cnn.normalized"),
    ("my model (copy).onnx", "my_model_copy_"),
    (object(), "model"),  # a model object: no name to take
])
def test_output_stem(source, stem):
    assert output_stem(source) == stem


def test_an_existing_file_with_a_colon_is_a_file(tmp_path):
    path = tmp_path / "run:1.onnx"
    path.touch()
    assert output_stem(str(path)) == "run_1"


@pytest.mark.parametrize(("source", "name"), [
    ("models/mlp.onnx", "mlp"),
    ("models.py:encoder", "encoder"),
    ("pkg.models:build", "build"),  # was 'pkg' (the module's first part) before the rule was shared
    # what graphtool's own outputs add goes: serving a converted model keeps its name
    ("mlp.normalized.onnx", "mlp"),
    ("mlp.converted.pt2", "mlp"),
    ("mlp_savedmodel", "mlp"),
    ("mlp_savedmodel/", "mlp"),
    ("mlp_savedmodel.converted_savedmodel", "mlp"),
    ("repo/mlp/1/model.savedmodel", "model"),
    ("resnet.v2.onnx", "resnet.v2"),  # other dots stay (was 'resnet')
    ("modèle.onnx", "mod_le"),  # ASCII only, as torch-model-archiver requires
    ("_private.onnx", "private"),  # starts with a letter or digit
    ("_savedmodel", "model"),
    (object(), "model"),
])
def test_model_name(source, name):
    assert model_name(source) == name


@given(st.text(max_size=40))
def test_model_name_is_always_a_valid_model_name(text):
    assert is_model_name(model_name(text))


@pytest.mark.parametrize(("name", "valid"), [
    ("mlp", True), ("mlp_v2", True), ("resnet-50.v2", True), ("7b", True),
    ("", False), ("a/b", False), ("_mlp", False), (".mlp", False), ("-mlp", False), ("my model", False),
    ("modèle", False),
])
def test_is_model_name(name, valid):
    assert is_model_name(name) is valid


def test_serve_names_an_artifact_by_the_rule(tmp_path):
    """`serve mlp.normalized.onnx` answers as 'mlp', as `package` would name it."""
    from deploy_helpers import mlp_onnx

    from converter.deploy.repository import load_repository

    repository = load_repository(mlp_onnx(tmp_path / "mlp.normalized.onnx"))
    assert list(repository.models) == ["mlp"]


def test_tensorboard_runs_are_named_by_the_rule(tmp_path):
    """A file.py:factory's run is the factory's name, as its diagram is (it was the file's)."""
    pytest.importorskip("tensorboard", reason="the tensorboard extra")
    from graph_models import base_model

    from converter.graphs.graph import to_graph
    from converter.viewers.outputs import render_view

    written = render_view(to_graph(base_model()), "tensorboard", tmp_path, "models.py:encoder", force=False)
    assert written.path == tmp_path / "encoder"
