"""The convert and inspect commands: output, exit codes, bad input, and what they write."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, ROOT, TF_DIR, TORCH_DIR

from converter.core.runners import ort_runner

MLP = f"{FIXTURES / 'torch_models.py'}:mlp"


def _small_onnx(path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), path)
    return path


@pytest.mark.slow
def test_convert_writes_validated_onnx(cli, tmp_path):
    out = tmp_path / "mlp.onnx"
    result = cli("convert", MLP, "--to", "onnx", "-o", out)
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output and "via export" in result.output
    model = onnx.load(out)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["x"]
    assert ort_runner(model).run({"x": np.ones((2, 16), np.float32)})[0].shape == (2, 4)


@pytest.mark.slow
def test_convert_json_is_one_document(cli, tmp_path):
    result = cli("convert", TF_DIR / "keras_two_io.keras", "-o", tmp_path / "m.onnx", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["passed"] is True and document["validation"]["passed"] is True
    outputs = document["validation"]["devices"][0]["outputs"]
    assert [o["name"] for o in outputs] == ["classes", "score"]
    assert document["source"]["format"] == "keras"


@pytest.mark.slow
def test_default_output_is_beside_the_model(cli, tmp_path):
    model = tmp_path / "cnn.pt2"
    shutil.copy(TORCH_DIR / "cnn.pt2", model)
    assert cli("convert", model).exit_code == 0
    assert (tmp_path / "cnn.onnx").is_file()


@pytest.mark.slow
def test_existing_output_needs_force(cli, tmp_path):
    out = tmp_path / "mlp.onnx"
    out.write_bytes(b"precious")
    result = cli("convert", MLP, "-o", out)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert out.read_bytes() == b"precious"
    assert cli("convert", MLP, "-o", out, "--force").exit_code == 0
    onnx.checker.check_model(onnx.load(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx"]  # no temporary left behind


def test_onnx_to_onnx_never_overwrites_its_source(cli, tmp_path):
    model = _small_onnx(tmp_path / "relu.onnx")
    result = cli("convert", model, "--opset", "18")
    assert result.exit_code == 0, result.output
    converted = onnx.load(tmp_path / "relu.normalized.onnx")
    assert [o.version for o in converted.opset_import if o.domain == ""] == [18]
    assert [o.version for o in onnx.load(model).opset_import if o.domain == ""] == [17]


def test_npz_matched_by_position_says_so(cli, tmp_path):
    model = _small_onnx(tmp_path / "relu.onnx")
    data = _npz(tmp_path, first=np.ones((3, 4), np.float32))
    result = cli("convert", model, "--inputs", data, "-o", tmp_path / "out.onnx")
    assert result.exit_code == 0
    assert "note: --inputs" in result.stderr and "matched by position (first->x)" in result.stderr


def test_inspect_onnx(cli, tmp_path):
    model = _small_onnx(tmp_path / "relu.onnx")
    result = cli("inspect", model)
    assert result.exit_code == 0
    assert "x: [batch, 4] float32" in result.output and "Relu 1" in result.output
    document = json.loads(cli("inspect", model, "--json").stdout)
    assert document["node_count"] == 1 and document["inputs"][0]["shape"] == ["batch", 4]


@pytest.mark.slow
def test_inspect_torch_summarizes_scopes(cli):
    document = json.loads(cli("inspect", f"{FIXTURES / 'torch_models.py'}:cnn", "--json").stdout)
    assert document["source"]["strategy"] == "export"
    assert {"block1", "block2", "head", "pool"} <= set(document["scopes"])
    mlp = json.loads(cli("inspect", MLP, "--json").stdout)
    assert mlp["parameters"] == {"count": 16 * 32 + 32 + 32 * 32 + 32 + 32 * 4 + 4, "bytes": 4 * 1732}


def _truncated(tmp_path, source, name):
    path = tmp_path / name
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t: ["convert", t / "absent.pt"], "no such file"),
        (lambda t: ["convert", _write(t / "empty.onnx", b"")], "empty"),
        (lambda t: ["convert", _write(t / "noise.pt", os.urandom(4096))], "not a model"),
        (lambda t: ["convert", _truncated(t, _small_onnx(t / "full.onnx"), "cut.onnx")], "truncated"),
        (lambda t: ["convert", _truncated(t, TORCH_DIR / "mlp.pt2", "cut.pt")], "damaged zip"),
        (lambda t: ["convert", _truncated(t, TF_DIR / "keras_cnn.keras", "cut.keras")], "damaged zip"),
        (lambda t: ["convert", t], "not a SavedModel"),
        (lambda t: ["convert", TORCH_DIR / "mlp_module.pt", "--input", "x:1,16"], "--trust-pickle"),
        (lambda t: ["convert", TORCH_DIR / "mlp_state_dict.pth", "--input", "x:1,16"], "--model-class"),
        (lambda t: ["convert", TORCH_DIR / "mlp.pt2", "--input", "x:1"], "rank 1"),
        (lambda t: ["convert", TORCH_DIR / "mlp.pt2", "--input", "y:1,16"], "no input 'y'"),
        (lambda t: ["convert", TORCH_DIR / "mlp.pt2", "--input", "x:1,16:float8"], "unknown dtype"),
        (lambda t: ["convert", TORCH_DIR / "mlp.pt2", "--inputs", _npz(t, a=np.zeros(1), b=np.zeros(1))], "match none"),
        (lambda t: ["convert", MLP, "--to", "caffe"], "unknown target"),
        (lambda t: ["convert", f"{FIXTURES / 'torch_models.py'}:nothing"], "has no 'nothing'"),
        (lambda t: ["inspect", TORCH_DIR / "mlp.ts", "--trace", "magic", "--input", "x:1,16"], "--trace magic"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(cli, tmp_path, make_args, message):
    args = make_args(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphtool: error: ") and message in lines[0]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_debug_shows_the_traceback(cli, tmp_path):
    result = cli("--debug", "convert", tmp_path / "absent.pt")
    assert result.exit_code == 2 and "Traceback" in result.stderr


def _write(path, data):
    path.write_bytes(data)
    return path


def _npz(tmp_path, **arrays):
    path = tmp_path / "inputs.npz"
    np.savez(path, **arrays)
    return path


def _run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "converter", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_installed_entry_point_and_module_agree():
    script = shutil.which("graphtool", path=os.path.dirname(sys.executable)) or shutil.which("graphtool")
    assert script, "the graphtool console script is not installed"
    help_text = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "convert" in help_text and "inspect" in help_text
    assert _run("--help").stdout == help_text


@pytest.mark.slow
def test_subprocess_convert_and_exit_codes(tmp_path):
    out = tmp_path / "two.onnx"
    ok = _run("convert", TF_DIR / "keras_two_io_savedmodel", "-o", out, "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["output"] == str(out)
    assert ok.stderr == ""  # framework start-up chatter stays hidden
    bad = _run("convert", tmp_path / "missing.keras")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_onnx_commands_do_not_import_frameworks(tmp_path):
    model = _small_onnx(tmp_path / "relu.onnx")
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from converter.cli import app\n"
        f"r = CliRunner().invoke(app, ['inspect', {str(model)!r}])\n"
        f"r2 = CliRunner().invoke(app, ['convert', {str(model)!r}, '-o', {str(tmp_path / 'o.onnx')!r}])\n"
        "assert r.exit_code == 0 and r2.exit_code == 0, (r.output, r2.output)\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'tf2onnx') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
