"""The speed gate: which runtimes got slower than an earlier run by more than allowed, beyond both runs' noise."""

from __future__ import annotations

import math

from converter.bench.report import BenchReport, Slowdown

__all__ = ["slowdowns", "NOISE_SIGMAS"]

NOISE_SIGMAS = 2.0  # a p50 moving by less than this many of the two runs' combined spreads is noise


def slowdowns(now: BenchReport, baseline: BenchReport, max_slowdown: float) -> tuple[Slowdown, ...]:
    """(runtime, batch) pairs measured in both runs whose p50 grew past (1 + max_slowdown), widened by the noise
    both runs measured (their spreads, combined)."""
    found = []
    for result in now.runtimes:
        before = baseline.runtime(result.runtime)
        if before is None:
            continue
        for timing in result.batches:
            old = before.at(timing.batch)
            if timing.p50_ms is None or old is None or not old.p50_ms:
                continue
            noise = NOISE_SIGMAS * math.hypot(timing.spread or 0.0, old.spread or 0.0)
            allowed = (1 + max_slowdown) * (1 + noise)
            ratio = timing.p50_ms / old.p50_ms
            if ratio > allowed:
                found.append(Slowdown(result.runtime, timing.batch, old.p50_ms, timing.p50_ms, round(ratio, 3),
                                      round(allowed, 3)))
    return tuple(found)
