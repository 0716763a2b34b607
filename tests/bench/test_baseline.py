"""The speed gate: a runtime slower than allowed beyond both runs' noise fails; noise alone does not."""

from __future__ import annotations

from converter.bench.baseline import slowdowns
from converter.bench.report import BatchTiming, BenchReport, RuntimeResult


def report(p50_by_runtime: dict[str, float], spread: float = 0.01) -> BenchReport:
    runtimes = tuple(RuntimeResult(name, name, batches=(BatchTiming(1, p50_ms=p50, spread=spread, stable=True),))
                     for name, p50 in p50_by_runtime.items())
    return BenchReport("m.onnx", 2, (1,), runtimes)


def test_a_slower_runtime_is_named_with_its_ratio():
    found = slowdowns(report({"onnx": 1.0, "pt2": 2.0}), report({"onnx": 1.0, "pt2": 1.0}), 0.10)
    assert [(s.runtime, s.batch, s.ratio) for s in found] == [("pt2", 1, 2.0)]
    assert "pt2 at batch 1" in str(found[0]) and "2.00x" in str(found[0])


def test_within_the_allowance_or_the_noise_passes():
    assert not slowdowns(report({"onnx": 1.08}), report({"onnx": 1.0}), 0.10)
    noisy_now, noisy_before = report({"onnx": 1.3}, spread=0.08), report({"onnx": 1.0}, spread=0.08)
    assert not slowdowns(noisy_now, noisy_before, 0.10)  # 1.3x within 1.1 x (1 + 2 x 0.113)
    assert slowdowns(report({"onnx": 1.3}), report({"onnx": 1.0}), 0.10)  # the same slowdown, measured steadily


def test_runtimes_missing_from_either_run_are_not_compared():
    assert not slowdowns(report({"tflite": 9.0}), report({"onnx": 1.0}), 0.10)
