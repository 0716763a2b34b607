"""`graphtool diff` and `graphtool render` through the Typer app and the installed command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from graph_models import base_model, layered_model, rename_all, unrelated_model
from typer.testing import CliRunner

from converter.cli import app

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REGEN = os.environ.get("GRAPHTOOL_REGEN_GOLDEN") == "1"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
runner = CliRunner()


@pytest.fixture()
def models(tmp_path, monkeypatch):
    """Model files in a fresh working directory, referred to by relative paths."""
    monkeypatch.chdir(tmp_path)
    onnx.save(base_model(), "a.onnx")
    onnx.save(base_model(insert=True, remove=True, attr=True, weights=True, shape=True, opset=17), "b.onnx")
    onnx.save(rename_all(base_model(reorder=True), seed=4), "renamed.onnx")
    onnx.save(unrelated_model(), "mlp.onnx")
    return tmp_path


def graphtool(*args: str):
    return runner.invoke(app, list(args))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_human_diff_report(models):
    result = graphtool("diff", "a.onnx", "b.onnx")
    assert result.exit_code == 0, result.output
    check_golden("diff_cli.txt", result.stdout)
    assert "1 added, 1 removed, 1 changed, 3 weights changed" in result.stdout


def test_exit_code_flag(models):
    assert graphtool("diff", "a.onnx", "b.onnx", "--exit-code").exit_code == 1
    assert graphtool("diff", "a.onnx", "renamed.onnx", "--exit-code").exit_code == 0
    assert graphtool("diff", "a.onnx", "b.onnx").exit_code == 0


def test_renamed_model_is_identical_with_renames_on_request(models):
    result = graphtool("diff", "a.onnx", "renamed.onnx")
    assert result.exit_code == 0
    assert "identical: 11 nodes (ops) matched, 19 renamed (--renames lists them)" in result.stdout
    listed = graphtool("diff", "a.onnx", "renamed.onnx", "--renames")
    assert "= op blocks.0/b/conv (blocks.0/b) → node_" in listed.stdout
    assert listed.stdout.count("  = ") == 19


def test_json_diff_is_one_document(models):
    result = graphtool("diff", "a.onnx", "b.onnx", "--json", "--renames")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["identical"] is False
    assert {k: document["summary"][k] for k in ("added", "removed", "changed", "weights_changed")} == {
        "added": 1, "removed": 1, "changed": 1, "weights_changed": 3,
    }
    assert document["a"]["path"].endswith("a.onnx") and document["b"]["format"] == "onnx"
    kinds = sorted(change["kind"] for change in document["changes"])
    assert kinds == ["added", "changed", "opset_changed", "output_changed", "removed",
                     "weight_changed", "weight_changed", "weight_changed"]
    assert isinstance(document["renames"], list)


def test_diff_of_unrelated_models_says_so(models):
    result = graphtool("diff", "a.onnx", "mlp.onnx")
    assert result.exit_code == 0
    assert "the models share no common structure" in result.stdout


def test_diff_render_writes_a_dot_file_at_least(models):
    result = graphtool("diff", "a.onnx", "b.onnx", "--render", "out/diff.dot")
    assert result.exit_code == 0, result.output
    source = (models / "out" / "diff.dot").read_text()
    assert "#bbf7d0" in source and "#fecaca" in source and "#fed7aa" in source
    assert "wrote out/diff.dot" in result.stdout


def test_diagrams_are_not_overwritten_without_force(models):
    assert graphtool("diff", "a.onnx", "b.onnx", "--render", "d.dot").exit_code == 0
    (models / "d.dot").write_text("keep me")
    refused = graphtool("diff", "a.onnx", "b.onnx", "--render", "d.dot")
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert (models / "d.dot").read_text() == "keep me"
    assert graphtool("diff", "a.onnx", "b.onnx", "--render", "d.dot", "--force").exit_code == 0
    assert (models / "d.dot").read_text() != "keep me"
    assert graphtool("render", "a.onnx", "-o", "r.dot").exit_code == 0
    assert graphtool("render", "a.onnx", "-o", "r.dot").exit_code == 2
    assert graphtool("render", "a.onnx", "-o", "r.dot", "--force").exit_code == 0


@needs_dot
def test_diff_render_svg(models):
    result = graphtool("diff", "a.onnx", "b.onnx", "--render", "diff.svg", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["render"]["output"] == "diff.svg"
    assert b"<svg" in (models / "diff.svg").read_bytes()


def test_bad_input_is_one_line_and_exit_2(models):
    Path("broken.onnx").write_bytes(b"not a model")
    for args in (("diff", "a.onnx", "missing.onnx"), ("diff", "a.onnx", "broken.onnx"), ("render", "broken.onnx")):
        result = graphtool(*args)
        assert result.exit_code == 2
        assert result.stderr.startswith("graphtool: error:") and result.stderr.count("\n") == 1


def test_render_default_output_folder(models, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = graphtool("render", "a.onnx")
    assert result.exit_code == 0, result.output
    assert (models / "graphviz_out" / "a.dot").exists()
    assert "apt-get install graphviz" in result.stdout
    assert "wrote graphviz_out/a.dot" in result.stdout


def test_render_format_and_output(models):
    result = graphtool("render", "a.onnx", "-o", "pics/model.png", "--format", "dot")
    assert result.exit_code == 0, result.output
    assert (models / "pics" / "model.png").read_text().startswith("digraph")
    result = graphtool("render", "a.onnx", "--format", "dot", "--depth", "0", "--json")
    document = json.loads(result.stdout)
    assert document["output"] == "graphviz_out/a.dot" and document["rendering"]["boxes"] == 3


@needs_dot
def test_render_svg_by_suffix(models):
    result = graphtool("render", "a.onnx", "-o", "a.svg", "--expand", "blocks.0", "--depth", "0")
    assert result.exit_code == 0, result.output
    assert b"<svg" in (models / "a.svg").read_bytes()


def test_render_unknown_names_list_the_closest(models):
    result = graphtool("render", "a.onnx", "--expand", "blocks.O")
    assert result.exit_code == 2
    assert "unknown scope 'blocks.O'; closest: blocks.0" in result.stderr
    result = graphtool("render", "a.onnx", "--focus", "head/fcc", "--radius", "1")
    assert result.exit_code == 2
    assert "unknown node 'head/fcc'; closest: head/fc" in result.stderr


def test_render_focus(models):
    result = graphtool("render", "a.onnx", "--focus", "head/fc", "--radius", "1", "--format", "dot", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rendering"]["items"] == 5


def test_render_huge_model_says_it_collapsed(models):
    onnx.save(layered_model(3000), "big.onnx")
    result = graphtool("render", "big.onnx", "--format", "dot")
    assert result.exit_code == 0
    assert "too many to lay out legibly" in result.stdout and "--expand SCOPE" in result.stdout


def test_installed_command(models):
    command = Path(sys.executable).with_name("graphtool")
    if not command.exists():
        pytest.skip("graphtool is not installed in this environment")
    done = subprocess.run([str(command), "diff", "a.onnx", "b.onnx", "--json", "--exit-code"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["summary"]["added"] == 1


def test_atol_and_removed_weights_in_the_report(models):
    model = base_model(weights=True)
    gemm = next(node for node in model.graph.node if node.op_type == "Gemm")
    del gemm.input[2]
    kept = [init for init in model.graph.initializer if init.name != "head.bias"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    onnx.save(model, "c.onnx")
    result = graphtool("diff", "a.onnx", "c.onnx", "--atol", "1")
    assert result.exit_code == 0
    assert "weight blocks.0.b.weight" not in result.stdout
    assert "  - weight head.bias" in result.stdout
    assert "~ Gemm head/fc: inputs: 3 → 2" in result.stdout


def test_diff_of_a_float16_model_prints_its_precision_section(tmp_path):
    from graph_models import conv_matmul_model
    from onnxconverter_common import float16

    onnx.save(conv_matmul_model(), tmp_path / "float.onnx")
    onnx.save(float16.convert_float_to_float16(conv_matmul_model(), keep_io_types=True), tmp_path / "half.onnx")
    result = graphtool("diff", str(tmp_path / "float.onnx"), str(tmp_path / "half.onnx"))
    assert result.exit_code == 0, result.output
    assert "precision: float32 → float16 (I/O float32)" in result.output
    assert "~ Conv conv1: float32 → float16" in result.output
    assert "4 of 4 Conv/MatMul layers float32 → float16, 0 kept in float32; weights 2.0x smaller" in result.output
    assert "  + " not in result.output and "  - " not in result.output  # the Casts are no structural change
    document = json.loads(graphtool("diff", str(tmp_path / "float.onnx"), str(tmp_path / "half.onnx"),
                                    "--json").output)
    assert document["precision"]["summary"]["changed"] == {"float32->float16": 4}
    inspected = graphtool("inspect", str(tmp_path / "half.onnx"))
    assert "precision: float16 (I/O float32), 4/4 layers in float16" in inspected.output
