"""Adaptive timing on a scripted clock: stops once the blocks' medians agree, says so when they never do."""

from __future__ import annotations

import itertools

import pytest

from converter.bench.stats import Budget, block_spread, measure, summarize


def scripted(latencies_ms):
    """A clock and a call: each call takes the next scripted latency on that clock."""
    now = [0.0]
    steps = itertools.cycle(latencies_ms)

    def clock() -> float:
        return now[0]

    def call() -> None:
        now[0] += next(steps) / 1000

    return clock, call


def test_steady_latencies_stop_early_and_stable():
    clock, call = scripted([2.0])
    timing = measure(call, 4, Budget(cv_target=0.05, min_seconds=0.1, max_seconds=10), clock)
    assert timing.stable and timing.spread == 0.0
    assert timing.p50_ms == pytest.approx(2.0) and timing.throughput == pytest.approx(4 / 0.002)
    assert 50 <= timing.calls < 100 and len(timing.latencies_ms) == timing.calls  # soon after min_seconds


def test_drifting_latencies_run_to_the_cap_and_say_noisy():
    clock, call = scripted([1.0] * 200 + [3.0] * 200)  # a machine that got busy halfway
    timing = measure(call, 1, Budget(cv_target=0.02, min_seconds=0.3, max_seconds=0.6), clock)
    assert not timing.stable and timing.spread > 0.02
    assert sum(timing.latencies_ms) / 1000 >= 0.6


def test_percentiles_and_spread_of_known_latencies():
    values = [float(v) for v in range(1, 101)]
    timing = summarize(values, 1, block_spread(values), True)
    assert (timing.p50_ms, timing.p90_ms, timing.p99_ms) == pytest.approx((50.5, 90.1, 99.01))
    assert block_spread([5.0] * 10) == 0.0 and block_spread([1.0] * 5 + [9.0] * 5) > 0.5


def test_a_slow_model_gets_enough_calls_to_judge_past_the_cap():
    clock, call = scripted([400.0, 420.0])  # slower per call than the time cap allows to repeat
    timing = measure(call, 8, Budget(cv_target=0.05, min_seconds=0.1, max_seconds=0.5, min_calls=5), clock)
    assert timing.calls == 5 and timing.stable and timing.spread < 0.05


def test_a_long_run_keeps_a_thinned_record_but_counts_every_call():
    clock, call = scripted([0.5, 1.5])
    timing = measure(call, 1, Budget(cv_target=0.05, min_seconds=3.0, max_seconds=10), clock)
    assert timing.calls >= 3000 and len(timing.latencies_ms) == 2000 and timing.p50_ms == 1.0
