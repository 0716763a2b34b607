"""`graphtool bench` for real: every runtime in a worker process of its own, memory seen, slowdowns gated."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from bench_models import BALLAST_MB
from deploy_helpers import mlp_onnx

from converter import api
from converter.core.types import LoadOptions

ROOT = Path(__file__).resolve().parents[2]
MODELS = str(ROOT / "tests" / "bench_models.py")
QUICK = {"min_seconds": 0.2, "max_seconds": 1.0}  # the figures' size is not under test here, only their presence
DYNAMIC = LoadOptions(input_specs=("x:batch,16",))


def test_every_runtime_side_by_side_at_each_batch(tmp_path):
    html = tmp_path / "bench.html"
    result = api.bench(f"{MODELS}:mlp", DYNAMIC, api.bench_settings(batch_sizes=(1, 3), samples=1, **QUICK),
                       html=html)
    assert [r.runtime for r in result.runtimes] == ["source", "onnx", "savedmodel", "tflite", "pt2", "torchscript"]
    assert [c.verdict for c in result.conversions] == ["passed"] * 5
    for runtime in result.runtimes:
        assert runtime.error is None, runtime
        assert runtime.peak_rss_mb >= runtime.framework_rss_mb > 0 and runtime.load_s >= 0
        for timing in runtime.batches:
            assert timing.error is None and 0 < timing.p50_ms <= timing.p90_ms <= timing.p99_ms, timing
            assert timing.throughput > 0 and timing.vs_source > 0
    assert {t.vs_source for t in result.runtime("source").batches} == {1.0}
    assert result.runtime("onnx").threads == {"onnxruntime intra_op_num_threads": result.threads}
    document = json.loads(json.dumps(result.to_dict()))
    assert document["schema"] == "graphtool.bench/1" and document["passed"]
    page = html.read_text()
    assert page.count("<svg") == 2 and "batch 3" in page and "onnxruntime" in page


def test_peak_memory_is_each_runtime_own():
    result = api.bench(f"{MODELS}:ballast", DYNAMIC, api.bench_settings(runtimes=("source", "onnx"),
                                                                         batch_sizes=(1,), **QUICK))
    source, runtime = result.runtime("source"), result.runtime("onnx")
    assert source.peak_rss_mb - source.framework_rss_mb >= BALLAST_MB  # the source process holds the ballast
    assert runtime.peak_rss_mb - runtime.framework_rss_mb < BALLAST_MB / 5  # the export does not


def test_a_planted_slowdown_fails_the_baseline_and_a_rerun_does_not(cli, tmp_path):
    common = ["--targets", "source", "--batch", "1", "--input", "x:batch,16", "--min-seconds", "0.2",
              "--max-seconds", "1"]
    first = cli("bench", f"{MODELS}:mlp", *common, "--json")
    assert first.exit_code == 0, first.output
    baseline = tmp_path / "baseline.json"
    baseline.write_text(first.stdout)
    again = cli("bench", f"{MODELS}:mlp", *common, "--baseline", baseline, "--max-slowdown", "300%")
    assert again.exit_code == 0, again.output
    assert "PASSED" in again.stdout
    slower = cli("bench", f"{MODELS}:sleepy", *common, "--baseline", baseline)
    assert slower.exit_code == 1, slower.output
    assert "SLOWER" in slower.stdout and "source at batch 1" in slower.stdout


def test_a_fixed_batch_is_timed_only_where_it_fits(tmp_path):
    path = mlp_onnx(tmp_path / "fixed.onnx")
    model = onnx.load(str(path))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 2
    onnx.save(model, str(path))
    result = api.bench(path, settings=api.bench_settings(runtimes=("onnx",), batch_sizes=(1, 2), **QUICK))
    skipped, timed = result.runtime("onnx").batches
    assert "fixed first dim of 2" in skipped.error and skipped.p50_ms is None
    assert timed.batch == 2 and timed.error is None and timed.p50_ms > 0


@pytest.mark.parametrize(("arguments", "expected"), [
    (["--targets", "onnx,nope"], "unknown runtime"),
    (["--batch", "0"], "expected batch sizes of 1 or more"),
    (["--batch", "one"], "expected whole numbers"),
    (["--artifact", "onnx=missing.onnx"], "no such file"),
    (["--artifact", "onnx"], "expected TARGET=PATH"),
    (["--max-slowdown", "lots"], "expected a percentage"),
])
def test_bad_options_are_one_line_and_exit_2(cli, tmp_path, arguments, expected):
    result = cli("bench", mlp_onnx(tmp_path / "m.onnx"), *arguments)
    assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output


def test_a_baseline_that_is_no_bench_report_is_refused(cli, tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "graphtool.validation/1"}))
    result = cli("bench", mlp_onnx(tmp_path / "m.onnx"), "--baseline", other)
    assert result.exit_code == 2 and "not a graphtool.bench/1 report" in result.output


def test_a_given_artifact_is_timed_instead_of_a_conversion(tmp_path):
    source, given = mlp_onnx(tmp_path / "m.onnx"), mlp_onnx(tmp_path / "given.onnx", seed=1)
    settings = api.bench_settings(runtimes=("onnx",), batch_sizes=(2,), artifacts={"onnx": given}, **QUICK)
    result = api.bench(source, settings=settings)
    assert [(c.target, c.path, c.verdict) for c in result.conversions] == [("onnx", str(given), "given")]
    assert result.runtime("onnx").artifact == str(given) and result.runtime("onnx").at(2).p50_ms > 0
