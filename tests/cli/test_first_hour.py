"""A user's first hour: --version, quiet terminals, outputs where expected, one node count, honest tables."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from graph_models import base_model
from onnx import TensorProto, helper

from converter.core.errors import first_line
from converter.core.naming import output_stem
from converter.graphs.files import write_rendering
from converter.graphs.graph import to_graph
from converter.graphs.render import MAX_CLUSTERS, render_graph
from converter.pipelines.convert import default_output
from converter.validation.metrics import measure
from converter.validation.tolerance import Tolerance

ROOT = Path(__file__).resolve().parents[2]
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")

# Two factories in one file, each returning an ONNX model: the cheapest Python reference there is.
FACTORIES = textwrap.dedent('''
    import onnx
    from onnx import TensorProto, helper

    def _model(outputs):
        nodes = [helper.make_node("Relu", ["x"], [name], name=f"relu_{name}") for name in outputs]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                                  [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 4]) for n in outputs])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])

    def encoder():
        return _model(["last_hidden_state_of_the_encoder_stack", "pooler_output_after_the_dense_tanh"])

    def head():
        return _model(["logits"])
''')


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh current directory holding models.py (two factories) and a.onnx."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models.py").write_text(FACTORIES)
    onnx.save(base_model(), tmp_path / "a.onnx")
    return tmp_path


def test_version_flag_and_json_documents(cli, workdir):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("graphtool ")
    version = result.stdout.split()[1]
    document = json.loads(cli("inspect", "a.onnx", "--json").stdout)
    assert document["version"] == version


def test_outputs_are_named_after_the_factory_for_every_command(cli, workdir):
    assert output_stem("models.py:encoder") == "encoder" and output_stem("dir/model.pt2") == "model"
    assert default_output("sub/models.py:encoder", "onnx") == Path("sub/encoder.onnx")  # beside the file
    first = cli("render", "models.py:encoder")
    second = cli("render", "models.py:head")  # the next factory of the same file: no "already exists"
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    drawn = sorted(p.stem for p in (workdir / "graphviz_out").iterdir())
    assert drawn == ["encoder", "head"]


@needs_dot
def test_render_o_writes_exactly_that_file(cli, workdir):
    assert cli("render", "a.onnx", "-o", "x.svg").exit_code == 0
    assert sorted(p.name for p in workdir.glob("x.*")) == ["x.svg"]
    assert cli("render", "a.onnx", "-o", "x.dot").exit_code == 0  # not refused by a stray x.dot
    assert sorted(p.name for p in workdir.glob("x.*")) == ["x.dot", "x.svg"]


def test_reports_and_plots_refuse_to_overwrite_without_force(cli, workdir):
    (workdir / "r.json").write_text("keep me")
    refused = cli("validate", "a.onnx", "--report", "r.json")
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert (workdir / "r.json").read_text() == "keep me"
    assert cli("validate", "a.onnx", "--report", "r.json", "--plot", "plots", "--force").exit_code == 0
    assert json.loads((workdir / "r.json").read_text())["passed"] is True
    plots = sorted(p.name for p in (workdir / "plots").iterdir())
    assert plots and cli("validate", "a.onnx", "--plot", "plots").exit_code == 2
    assert cli("validate", "a.onnx", "--plot", "plots", "--force").exit_code == 0


def test_one_node_count_in_inspect_diff_and_render(cli, workdir):
    model = onnx.load(workdir / "a.onnx")
    ops = len(model.graph.node)
    assert len(model.graph.initializer) > 0  # so counting them too would show
    inspected = json.loads(cli("inspect", "a.onnx", "--json").stdout)
    rendered = json.loads(cli("render", "a.onnx", "-o", "a.dot", "--json").stdout)
    diffed = json.loads(cli("diff", "a.onnx", "a.onnx", "--json").stdout)
    assert inspected["node_count"] == rendered["rendering"]["nodes"] == diffed["summary"]["nodes_a"] == ops
    assert inspected["counts"]["constants"] == len(model.graph.initializer)
    assert "nodes (ops)" in cli("inspect", "a.onnx").stdout


def test_validation_table_keeps_full_names_off_a_terminal(cli, workdir):
    result = cli("validate", "models.py:encoder")
    assert result.exit_code == 0, result.output
    for name in ("last_hidden_state_of_the_encoder_stack", "pooler_output_after_the_dense_tanh"):
        assert name in result.stdout  # on one line, not cut with "…" nor folded
    assert "…" not in result.stdout and "max rel = " in result.stdout


def test_sample_labels_say_what_differs(cli, workdir):
    document = json.loads(cli("validate", "a.onnx", "--samples", "3", "--seed", "7", "--json").stdout)
    labels = [sample["label"] for sample in document["samples"]]
    assert len(labels) == 6 and len(set(labels)) == 6, labels  # 3 asked for, then negated, scaled, zeroed
    assert labels[0].startswith("traced inputs") and "seed 7 draw 2" in labels[2]


def test_relative_error_stays_meaningful_near_zero():
    expected = np.array([0.0, 1e-30, 2.0], dtype=np.float32)
    actual = expected + np.array([1e-6, 1e-6, 2e-4], dtype=np.float32)
    metrics = measure("y", actual, expected, Tolerance(1e-4, 1e-5))
    # near zero the error counts against atol·s (1e-6 / (1e-5 * 2), s = max |expected| = 2),
    # elsewhere against |expected| (2e-4 / 2)
    assert metrics.max_rel == pytest.approx(0.05, rel=1e-3)
    assert metrics.passed


def test_error_text_is_whole_and_plain():
    message = "\x1b[1;31m[ONNXRuntimeError]\x1b[m : " + "x" * 400 + " {'module': 'tfm', 'class': 'Dense'}"
    line = first_line(RuntimeError(message))
    assert "\x1b" not in line and line.endswith("'class': 'Dense'}") and len(line) > 400


def _clip_chain(layers: int) -> onnx.ModelProto:
    """Keras-like: one scope per layer, every Clip reading the same two scalar bounds (a Relu6)."""
    nodes, value = [], "x"
    for k in range(layers):
        node = helper.make_node("Clip", [value, "lo", "hi"], [f"t{k}"], name=f"clip{k}")
        node.metadata_props.add(key="graphtool.scope", value=f"net/layer_{k}")
        nodes.append(node)
        value = f"t{k}"
    inits = [helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]), helper.make_tensor("hi", TensorProto.FLOAT,
                                                                                         [], [6.0])]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(value, TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_shared_constants_and_tiny_scopes_keep_the_layout_small():
    rendering = render_graph(to_graph(_clip_chain(2 * MAX_CLUSTERS)))
    assert "lo\n" not in rendering.source and "hi\n" not in rendering.source  # no 80-edge fans
    assert rendering.source.count("subgraph cluster") <= MAX_CLUSTERS
    assert any("shared" in note for note in rendering.notes)
    small = render_graph(to_graph(_clip_chain(1)))  # one user each: drawn beside it
    assert 'lo\n' in small.source and not small.notes


@needs_dot
def test_render_tells_progress_while_dot_is_slow(tmp_path, monkeypatch):
    from converter.graphs import files

    monkeypatch.setattr(files, "PROGRESS_AFTER", 0.0)
    heard: list[str] = []
    written = write_rendering(render_graph(to_graph(_clip_chain(30))), tmp_path / "c.svg", "svg",
                              progress=heard.append)
    assert written.path == tmp_path / "c.svg" and written.path.read_text().startswith("<?xml")
    assert heard and "Graphviz is laying out" in heard[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.svg"]


@pytest.mark.slow
def test_torchscript_archive_inspects_without_input(cli):
    result = cli("inspect", ROOT / "fixtures" / "torch" / "cnn.ts")
    assert result.exit_code == 0, result.output
    assert "forward(image: Tensor)" in result.stdout and "aten::_convolution 2" in result.stdout
    assert "--input" in result.stdout and "submodules: block1" in result.stdout
    document = json.loads(cli("inspect", ROOT / "fixtures" / "torch" / "cnn.ts", "--json").stdout)
    assert document["traced"] is False and document["parameters"]["count"] > 0


TORCH_REFS = textwrap.dedent('''
    import torch

    class Branchy(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # a data-dependent branch: refused
                return x * 2
            return x

    class Scaled(torch.nn.Module):
        def forward(self, x):
            return x * torch.tensor([2.0])  # a tracer warning that changes nothing: a note

    class Linear(torch.nn.Module):
        def __init__(self, width):
            super().__init__()
            torch.manual_seed(0)
            self.fc = torch.nn.Linear(width, 3)

        def forward(self, x):
            return self.fc(x)

    def branchy():
        return Branchy(), (torch.ones(2, 3),)

    def scaled():
        return Scaled(), (torch.ones(2, 3),)

    def narrow():
        return Linear(4)

    def wide():
        return Linear(8)
''')


@pytest.mark.slow
def test_tracer_warning_is_a_note_and_diff_takes_a_spec_per_side(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "refs.py").write_text(TORCH_REFS)
    traced = cli("inspect", "refs.py:scaled", "--trace", "torchscript")
    assert traced.exit_code == 0 and "note: tracing: torch.tensor results are registered as constants" in traced.stderr
    refused = cli("inspect", "refs.py:branchy", "--trace", "torchscript")
    assert refused.exit_code == 2 and "data-dependent branch at refs.py:" in refused.stderr
    result = cli("diff", "refs.py:narrow", "refs.py:wide", "--input-a", "x:batch,4", "--input-b", "x:batch,8",
                 "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["summary"]["weights_changed"] == 2  # fc.weight [3,4] -> [3,8], fc.bias
    shared = cli("diff", "refs.py:narrow", "refs.py:wide", "--input", "x:batch,4")
    assert shared.exit_code == 2  # one spec for both cannot fit the wide model


TF_REF = textwrap.dedent('''
    import keras

    def flat():
        inputs = keras.Input((4, 4, 2), name="x")
        hidden = keras.layers.Flatten(name="flatten")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3, name="logits")(hidden))
''')


@pytest.mark.slow
def test_tensorflow_reference_is_quiet_and_keeps_the_batch_name(tmp_path):
    (tmp_path / "tfref.py").write_text(TF_REF)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "converter", "inspect", "tfref.py:flat", "--json"], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    for noise in ("I0000", "E0000", "W0000", "oneDNN", "cuInit", "absl::InitializeLog", "cuda"):
        assert noise not in run.stderr, run.stderr
    document = json.loads(run.stdout)
    assert document["inputs"][0]["shape"][0] == "batch" and document["outputs"][0]["shape"][0] == "batch"
    drawn = subprocess.run([sys.executable, "-m", "converter", "render", "tfref.py:flat", "-o", "f.dot"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert drawn.returncode == 0 and drawn.stderr == "", drawn.stderr
    source = (tmp_path / "f.dot").read_text()
    assert "unk__" not in source and "[batch,3]" in source
