"""One runtime in a process of its own: `python -m converter.bench.worker JOB.json RESULT.json`.

Its load time, first calls, latencies and peak memory are that runtime's alone; the result is JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from converter.bench.stats import Budget, measure
from converter.core.errors import first_line

__all__ = ["run_job", "main"]

WARMUP_SECONDS = 0.5  # after the first call: caches, allocators and lazy compilation settle before timing
WARMUP_CALLS = 3
SETTLED = 1.5


def rss_mb() -> float | None:
    """This process's resident memory now (MiB), from /proc; None where there is no /proc."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float | None:
    """This process's peak resident memory since it started (MiB).

    /proc's VmHWM, not getrusage: after fork and exec, ru_maxrss still counts the parent's pages at the fork.
    """
    return _status_mb("VmHWM")


def _status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def run_job(job: dict) -> dict:
    """Open the job's runtime, then time it at each batch; failures are recorded, not raised."""
    from converter.bench.runtimes import runtime_named, thread_knobs
    from converter.core.frameworks import quiet_environment

    quiet_environment()
    runtime = runtime_named(job["runtime"])
    result: dict = {"runtime": runtime.name, "batches": []}
    try:
        began = time.perf_counter()
        result["threads"] = thread_knobs(job.get("framework") or runtime.framework, job["threads"])
        result["import_s"] = round(time.perf_counter() - began, 3)
        result["framework_rss_mb"] = rss_mb()
        began = time.perf_counter()
        runner = runtime.open(job)
        result["load_s"] = round(time.perf_counter() - began, 3)
        result["name"] = runner.name
    except Exception as error:  # a runtime that cannot open is one row's failure, not the whole bench's
        result["error"] = f"could not load: {first_line(error)}"
        result["peak_rss_mb"] = peak_rss_mb()
        return result
    budget = Budget(**job["budget"])
    for batch, path in job["feeds"].items():
        result["batches"].append(_time_batch(runner, int(batch), path, budget))
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _time_batch(runner, batch: int, path: str, budget: Budget) -> dict:
    with np.load(path) as data:
        feeds = {name: data[name] for name in data.files}
    try:
        began = time.perf_counter()
        runner(feeds)
        first_ms = (time.perf_counter() - began) * 1000
        warmup_calls = _warm_up(lambda: runner(feeds), budget)
        timing = measure(lambda: runner(feeds), batch, budget)
    except Exception as error:  # e.g. an artifact whose batch dim was frozen at another size
        return {"batch": batch, "error": f"failed at batch {batch}: {first_line(error)}"}
    return {"batch": batch, "first_call_ms": round(first_ms, 3), "warmup_calls": warmup_calls, **timing.to_dict()}


def _warm_up(call, budget: Budget) -> int:
    """Call until the latency has settled (TorchScript's profiling executor, for one, optimizes only after
    several calls): the median of the last calls within SETTLED of the fastest seen, after WARMUP_SECONDS."""
    start, recent, best, calls = time.perf_counter(), [], float("inf"), 0
    cap = max(WARMUP_SECONDS, budget.max_seconds / 2)
    while True:
        began = time.perf_counter()
        call()
        seconds = time.perf_counter() - began
        calls, best, recent = calls + 1, min(best, seconds), [*recent[-(WARMUP_CALLS - 1):], seconds]
        elapsed = time.perf_counter() - start
        settled = len(recent) == WARMUP_CALLS and sorted(recent)[1] <= SETTLED * best  # one outlier allowed
        if elapsed >= cap or settled and elapsed >= WARMUP_SECONDS:
            return calls


def main(argv: list[str] | None = None) -> int:
    """Read the job, run it, write the result next to where it was asked for (atomically)."""
    job_path, result_path = (argv if argv is not None else sys.argv[1:])[:2]
    result = run_job(json.loads(Path(job_path).read_text()))
    partial = Path(result_path + ".partial")
    partial.write_text(json.dumps(result))
    os.replace(partial, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
