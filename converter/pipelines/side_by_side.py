"""Two runners timed side by side on the same inputs, their calls interleaved so that a machine's drift hits both."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import numpy as np

from converter.core.inputs import InputSpec
from converter.core.runners import Runner

__all__ = ["at_batch", "side_by_side", "BATCHES"]

BATCHES = (1, 8)  # the sizes a low-precision build's latency is reported at
_WARM_UP = 2
_LEAST_CALLS = 5
_MOST_CALLS = 50


def at_batch(feeds: dict[str, np.ndarray], specs: Sequence[InputSpec], batch: int) -> dict[str, np.ndarray] | None:
    """`feeds` with `batch` rows (the first rows, tiled where there are fewer); None where an input's batch dim is
    fixed at another size."""
    dynamic = {spec.name: bool(spec.dims) and not isinstance(spec.dims[0], int) for spec in specs}
    resized = {}
    for name, array in feeds.items():
        if np.ndim(array) == 0:
            return None
        if not dynamic.get(name, False):
            if len(array) != batch:
                return None
            resized[name] = array
            continue
        repeats = -(-batch // len(array))
        resized[name] = np.ascontiguousarray(np.concatenate([array] * repeats)[:batch])
    return resized


def side_by_side(first: Runner, second: Runner, feeds: dict[str, np.ndarray],
                 seconds: float = 1.0) -> tuple[float, float]:
    """Median milliseconds per call of each runner: warm-up calls, then alternating calls until each has run at
    least _LEAST_CALLS times and `seconds` in all (at most _MOST_CALLS)."""
    for _ in range(_WARM_UP):
        first.run(feeds)
        second.run(feeds)
    times: tuple[list[float], list[float]] = ([], [])
    while len(times[0]) < _MOST_CALLS and (len(times[0]) < _LEAST_CALLS or sum(times[0]) + sum(times[1]) < seconds):
        for runner, spent in zip((first, second), times, strict=True):
            start = time.perf_counter()
            runner.run(feeds)
            spent.append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1e3, statistics.median(times[1]) * 1e3
