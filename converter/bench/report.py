"""What `bench` found: a row per (runtime, batch), the conversions behind them, the endpoint's load; JSON both ways."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from converter.core.errors import GraphtoolError

__all__ = ["SCHEMA", "BatchTiming", "RuntimeResult", "Conversion", "EndpointTiming", "Slowdown", "BenchReport",
           "read_report"]

SCHEMA = "graphtool.bench/1"


@dataclass(frozen=True)
class BatchTiming:
    """One runtime at one batch size: latency percentiles (ms), throughput (samples/s), and its ratio to the source."""

    batch: int
    first_call_ms: float | None = None
    warmup_calls: int = 0  # calls after the first, until the latency settled
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    throughput: float | None = None
    spread: float | None = None  # coefficient of variation of the blocks' medians
    stable: bool = False
    calls: int = 0
    latencies_ms: tuple[float, ...] = ()
    vs_source: float | None = None  # p50 / the source's p50 at this batch
    error: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> BatchTiming:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**{**known, "latencies_ms": tuple(data.get("latencies_ms", ()))})


@dataclass(frozen=True)
class RuntimeResult:
    """One runtime, measured in a process of its own: load, memory, size, and a timing per batch."""

    runtime: str
    label: str
    artifact: str | None = None
    size_mb: float | None = None
    import_s: float | None = None
    load_s: float | None = None
    framework_rss_mb: float | None = None  # after importing the framework, before loading the model
    peak_rss_mb: float | None = None  # the worker process's peak: framework, model and runs
    threads: dict[str, Any] = field(default_factory=dict)
    batches: tuple[BatchTiming, ...] = ()
    error: str | None = None

    def at(self, batch: int) -> BatchTiming | None:
        return next((timing for timing in self.batches if timing.batch == batch), None)

    @classmethod
    def from_dict(cls, data: dict) -> RuntimeResult:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**{**known, "batches": tuple(BatchTiming.from_dict(b) for b in data.get("batches", ()))})


@dataclass(frozen=True)
class Conversion:
    """How an artifact came to be: converted and validated here, or given with --artifact."""

    target: str
    path: str
    verdict: str  # passed, failed, inconclusive, failed-to-run, given
    seconds: float | None = None
    detail: str | None = None


@dataclass(frozen=True)
class EndpointTiming:
    """A live server under `concurrency` closed-loop clients: latency (ms), throughput and its overhead."""

    url: str
    protocol: str
    concurrency: int
    batch: int
    requests: int
    errors: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    throughput: float | None  # samples per second over all clients
    served_runtime: str | None = None  # the in-process runtime its overhead is measured against
    overhead: float | None = None  # p50 / that runtime's p50 at this batch
    error: str | None = None
    latencies_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class Slowdown:
    """A runtime slower than the baseline by more than the allowed slowdown plus both runs' noise."""

    runtime: str
    batch: int
    baseline_ms: float
    now_ms: float
    ratio: float
    allowed: float

    def __str__(self) -> str:
        return (f"{self.runtime} at batch {self.batch}: p50 {self.now_ms:.3g} ms vs {self.baseline_ms:.3g} ms, "
                f"{self.ratio:.2f}x (allowed {self.allowed:.2f}x)")


@dataclass(frozen=True)
class BenchReport:
    """Every runtime of one model side by side; false when a baseline comparison found a slowdown."""

    model: str
    threads: int
    batch_sizes: tuple[int, ...]
    runtimes: tuple[RuntimeResult, ...]
    conversions: tuple[Conversion, ...] = ()
    endpoint: tuple[EndpointTiming, ...] = ()
    machine: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    max_slowdown: float | None = None
    slowdowns: tuple[Slowdown, ...] = ()
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return not self.slowdowns

    def runtime(self, name: str) -> RuntimeResult | None:
        return next((result for result in self.runtimes if result.runtime == name), None)

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, **asdict(self), "passed": bool(self)}


def read_report(path: str | Path) -> BenchReport:
    """A report written by `bench --json` (schema graphtool.bench/1), e.g. a --baseline."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise GraphtoolError(f"--baseline {path}: cannot read it as JSON ({error}); expected the output of "
                             "`graphtool bench --json`") from error
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise GraphtoolError(f"--baseline {path}: not a {SCHEMA} report; expected the output of "
                             "`graphtool bench --json`")
    return BenchReport(
        data["model"], data["threads"], tuple(data["batch_sizes"]),
        tuple(RuntimeResult.from_dict(r) for r in data["runtimes"]),
        tuple(Conversion(**c) for c in data.get("conversions", ())),
        tuple(EndpointTiming(**{**row, "latencies_ms": tuple(row.get("latencies_ms", ()))})
              for row in data.get("endpoint", ())),
        data.get("machine", {}), data.get("budget", {}), notes=tuple(data.get("notes", ())))
