"""The validate command, and convert's validation: exit codes, reports, plots and cleanup."""

from __future__ import annotations

import json

import onnx
import pytest
from validation_models import swap_op, two_outputs

from converter.core.runners import cuda_available

NOISY = (
    "import torch\n"
    "class Noisy(torch.nn.Module):\n"
    "    def forward(self, x):\n"
    "        return x + torch.rand_like(x)  # each runtime draws its own noise\n"
    "def model():\n"
    "    return Noisy(), (torch.ones(2, 3),)\n"
)


@pytest.fixture
def pair(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    model = two_outputs()
    onnx.save(model, a)
    onnx.save(swap_op(model, "Neg", "Abs")[0], b)
    return a, b


def test_validate_against_locates_and_exits_1(cli, pair, tmp_path):
    a, b = pair
    result = cli("validate", a, "--against", b, "--locate", "--report", tmp_path / "r.json", "--plot", tmp_path / "p")
    assert result.exit_code == 1, result.output
    assert "first divergent node: neg (Abs)" in result.output and "FAILED" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["located"]["node"] == "neg" and report["passed"] is False
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["cpu_first.svg", "cpu_second.svg"]


def test_validate_passes_with_exit_0_and_json(cli, pair):
    a, _ = pair
    result = cli("validate", a, "--json", "--samples", "2")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["passed"] and len(document["samples"]) == 2 + 3  # and negated, scaled, zeroed


def test_validate_tolerance_file(cli, tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(two_outputs(0.0), a)
    onnx.save(two_outputs(1e-3), b)
    assert cli("validate", a, "--against", b).exit_code == 1
    (tmp_path / "t.json").write_text('{"first": {"atol": 0.01}}')
    assert cli("validate", a, "--against", b, "--tolerance", tmp_path / "t.json").exit_code == 0
    assert cli("validate", a, "--against", b, "--atol", "0.01").exit_code == 0


def test_signature_mismatch_is_a_failure(cli, tmp_path):
    a = tmp_path / "a.onnx"
    onnx.save(two_outputs(), a)
    single = two_outputs()
    del single.graph.output[1]
    single.graph.node.remove(single.graph.node[2])
    onnx.save(single, tmp_path / "b.onnx")
    result = cli("validate", a, "--against", tmp_path / "b.onnx")
    assert result.exit_code == 1
    assert "signature mismatch output count: 2 vs 1" in result.output
    renamed = two_outputs()
    renamed.graph.output[1].name = "other"
    renamed.graph.node[2].output[0] = "other"
    onnx.save(renamed, tmp_path / "c.onnx")
    assert "output names" in cli("validate", a, "--against", tmp_path / "c.onnx").output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--tolerance", "missing.json"], "cannot read"), (["--device", "tpu"], "--device tpu")],
)
def test_validate_bad_input(cli, pair, args, message):
    result = cli("validate", pair[0], *args)
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(cuda_available(), reason="checks the answer where CUDA is missing")
def test_explicit_cuda_without_cuda_is_exit_2(cli, pair):
    result = cli("validate", pair[0], "--device", "cuda")
    assert result.exit_code == 2 and "CUDAExecutionProvider" in result.stderr


@pytest.mark.slow
def test_convert_removes_a_failed_artifact_and_writes_the_report(cli, tmp_path):
    (tmp_path / "noisy.py").write_text(NOISY)
    out = tmp_path / "noisy.onnx"
    # (a traced data-dependent branch is refused at capture now, so noise makes the mismatch)
    args = ("convert", f"{tmp_path / 'noisy.py'}:model", "--trace", "torchscript", "-o", out)
    failed = cli(*args)
    assert failed.exit_code == 1, failed.output
    assert not out.exists() and "was not kept" in failed.output
    assert "the source is nondeterministic" in failed.output  # its noise is no floor to pass against
    report = json.loads((tmp_path / "noisy.onnx.validation.json").read_text())
    assert report["passed"] is False and len(report["samples"]) == 3 + 3  # seeded, then the exercises
    assert report["devices"][0]["outputs"][0]["outside_fraction"] > 0.5
    kept = cli(*args, "--keep-failed", "--force", "--json")
    assert kept.exit_code == 1 and out.is_file()
    document = json.loads(kept.stdout)
    assert document["passed"] is False and document["validation"]["passed"] is False
    unchecked = cli(*args, "--no-validate", "--force")
    assert unchecked.exit_code == 0 and "without validation" in unchecked.output
    good = out.read_bytes()
    replaced = cli(*args, "--force")  # a failing artifact never replaces the existing file
    assert replaced.exit_code == 1 and out.read_bytes() == good
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__")
    assert left == ["noisy.onnx", "noisy.onnx.validation.json", "noisy.py"]
