"""Adaptive timing: call until the median is stable (a coefficient-of-variation target) or a time cap is reached."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Timing", "Budget", "measure", "summarize"]

BLOCKS = 5  # the median's stability is judged over this many consecutive blocks of calls
KEPT = 2000  # latencies kept for charts and --json (evenly spaced, in call order); percentiles use them all


@dataclass(frozen=True)
class Budget:
    """How long to time one (runtime, batch): stop once stable after `min_seconds`, or at `max_seconds` (but not
    before `min_calls`, so that even a slow model's spread is judged over BLOCKS blocks)."""

    cv_target: float = 0.05
    min_seconds: float = 1.0
    max_seconds: float = 8.0
    min_calls: int = 5


@dataclass(frozen=True)
class Timing:
    """Per-call latencies (ms) and what they say: percentiles, throughput and how stable the median was."""

    latencies_ms: tuple[float, ...]  # at most KEPT of them
    calls: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    throughput: float  # samples per second: batch x calls / the seconds they took
    spread: float  # coefficient of variation of the blocks' medians: how far the p50 may move on a rerun
    stable: bool  # the spread reached the budget's target before its time cap

    def to_dict(self) -> dict:
        return {"p50_ms": self.p50_ms, "p90_ms": self.p90_ms, "p99_ms": self.p99_ms, "mean_ms": self.mean_ms,
                "throughput": self.throughput, "spread": self.spread, "stable": self.stable,
                "calls": self.calls, "latencies_ms": list(self.latencies_ms)}


def measure(call: Callable[[], object], batch: int, budget: Budget = Budget(),
            clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Call `call` (already warmed up) until the blocks' medians agree within the target, or the cap."""
    latencies: list[float] = []
    start = clock()
    check_at = max(budget.min_calls, BLOCKS)
    while True:
        began = clock()
        call()
        latencies.append((clock() - began) * 1000)
        elapsed = clock() - start
        capped = elapsed >= budget.max_seconds and len(latencies) >= budget.min_calls  # enough calls to judge
        if not capped and (len(latencies) < check_at or elapsed < budget.min_seconds):
            continue
        check_at = len(latencies) + max(1, len(latencies) // 10)  # judged every 10% more calls: O(n log n) in all
        spread = block_spread(latencies)
        stable = spread <= budget.cv_target and len(latencies) >= BLOCKS
        if stable or capped:
            return summarize(latencies, batch, spread, stable)


def block_spread(latencies: list[float]) -> float:
    """The coefficient of variation of the medians of BLOCKS consecutive blocks; with fewer calls than that, of
    the calls themselves (1.0, wholly unknown, for a single call)."""
    if len(latencies) < 2:
        return 1.0
    values = latencies if len(latencies) < BLOCKS else \
        [statistics.median(block) for block in np.array_split(np.asarray(latencies), BLOCKS)]
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if mean > 0 else 0.0


def summarize(latencies: list[float], batch: int, spread: float, stable: bool) -> Timing:
    """Percentiles and throughput of measured latencies."""
    values = np.asarray(latencies)
    p50, p90, p99 = (float(np.percentile(values, q)) for q in (50, 90, 99))
    total_s = float(values.sum()) / 1000
    kept = values[np.linspace(0, len(values) - 1, KEPT).astype(int)] if len(values) > KEPT else values
    return Timing(tuple(round(float(v), 4) for v in kept), len(values), round(p50, 4), round(p90, 4), round(p99, 4),
                  round(float(values.mean()), 4), round(batch * len(values) / total_s, 3) if total_s else 0.0,
                  round(spread, 4), stable)
