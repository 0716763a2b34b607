"""Bench one model: convert (validated) or take each artifact, then time every runtime in a worker of its own."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

from converter.bench.baseline import slowdowns
from converter.bench.endpoint import EndpointLoad
from converter.bench.feeds import batch_feeds, save_feeds
from converter.bench.report import BatchTiming, BenchReport, Conversion, RuntimeResult, read_report
from converter.bench.runtimes import RUNTIMES, runtime_named
from converter.bench.stats import Budget
from converter.core import external_data
from converter.core.errors import GraphtoolError
from converter.core.inputs import graph_input_specs
from converter.core.naming import model_name
from converter.core.output_names import source_output_names
from converter.core.types import LoadedModel, LoadOptions
from converter.pipelines.convert import artifact_suffix, convert, record_and_release
from converter.sources import load
from converter.validation.engine import RecordedSource
from converter.validation.tolerance import Tolerances

__all__ = ["BenchSettings", "bench", "DEFAULT_RUNTIMES"]

DEFAULT_RUNTIMES = ("source", "onnx", "savedmodel", "tflite", "pt2", "torchscript")
LOAD_SECONDS = 300  # a worker's allowance for importing its framework and loading the model


@dataclass(frozen=True)
class BenchSettings:
    """What to time and how: runtimes, batch sizes, the thread budget, artifacts to reuse, the timing budget."""

    runtimes: tuple[str, ...] = DEFAULT_RUNTIMES
    batch_sizes: tuple[int, ...] = (1, 8)
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    artifacts: Mapping[str, Path] = field(default_factory=dict)  # runtime -> an artifact to time instead of converting
    budget: Budget = Budget()
    samples: int = 3  # validation samples for each conversion
    tolerances: Tolerances | None = None
    keep: Path | None = None  # where converted artifacts stay; default: a temporary folder, removed
    baseline: Path | None = None
    max_slowdown: float = 0.10

    def __post_init__(self) -> None:
        for name in (*self.runtimes, *self.artifacts):
            runtime_named(name)
        if "source" in self.artifacts:
            raise GraphtoolError("--artifact source=...: the source is MODEL itself; give artifacts for "
                                 f"{', '.join(n for n in RUNTIMES if n != 'source')}")
        missing = [f"{name}={path}" for name, path in self.artifacts.items() if not Path(path).exists()]
        if missing:
            raise GraphtoolError(f"--artifact {missing[0]}: no such file or folder; give an artifact that exists")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise GraphtoolError(f"--batch {','.join(map(str, self.batch_sizes))}: expected batch sizes of 1 or more")
        if self.threads < 1:
            raise GraphtoolError(f"--threads {self.threads}: expected 1 or more")
        if self.max_slowdown < 0:
            raise GraphtoolError(f"--max-slowdown {self.max_slowdown:.0%}: expected 0% or more")


def bench(source: str | Path, options: LoadOptions | None = None, settings: BenchSettings | None = None,
          endpoint: EndpointLoad | None = None) -> BenchReport:
    """Every runtime of SOURCE at each batch size, side by side, each in its own process; with a baseline, the
    slowdowns past settings.max_slowdown; with an endpoint, a live server's rows under load."""
    options = options or LoadOptions()
    settings = settings or BenchSettings()
    baseline = read_report(settings.baseline) if settings.baseline is not None else None
    client = endpoint.client(model_name(source)) if endpoint is not None else None  # a wrong URL costs no load
    load_average = os.getloadavg()
    loaded = load(source, options)
    with ExitStack() as stack:
        folder = settings.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="graphtool-bench-")))
        folder.mkdir(parents=True, exist_ok=True)
        stack.enter_context(external_data.weights_at(loaded.weights_dir))
        feeds, skipped = _feed_files(loaded, settings.batch_sizes, folder)
        conversions, jobs = [], {}
        converting = [n for n in settings.runtimes if n != "source" and n not in settings.artifacts]
        # the source framework's answers, recorded once for every conversion's validation (then it is let go)
        recorded = record_and_release(loaded, settings.samples, options.inputs_file is not None) if converting \
            else None
        for name in settings.runtimes:
            conversion, job = _prepare(name, source, options, loaded, settings, folder, recorded)
            conversions += [conversion] if conversion is not None else []
            jobs[name] = job
        results = tuple(_measure(name, job, feeds, skipped, settings, folder) for name, job in jobs.items())
        endpoint_rows = endpoint.measure(client, feeds, results) if endpoint is not None else ()
    notes = _notes(load_average, os.getloadavg(), results)
    report = BenchReport(str(source), settings.threads, settings.batch_sizes, _with_ratios(results),
                         tuple(conversions), tuple(endpoint_rows), _machine(), settings.budget.__dict__,
                         str(settings.baseline) if settings.baseline else None,
                         settings.max_slowdown if baseline is not None else None, notes=notes)
    return replace(report, slowdowns=slowdowns(report, baseline, settings.max_slowdown)) if baseline else report


def _feed_files(loaded: LoadedModel, batch_sizes: Sequence[int], folder: Path) -> tuple[dict[int, Path], dict]:
    """An .npz of inputs per batch size; the sizes the model cannot take, with why."""
    specs = graph_input_specs(loaded.model)
    files, skipped = {}, {}
    for batch in batch_sizes:
        try:
            files[batch] = save_feeds(batch_feeds(loaded.example_inputs, specs, batch), folder / f"feeds_{batch}.npz")
        except GraphtoolError as error:
            skipped[batch] = str(error)
    if not files:
        raise GraphtoolError(next(iter(skipped.values())))
    return files, skipped


def _prepare(name: str, source: str | Path, options: LoadOptions, loaded: LoadedModel, settings: BenchSettings,
             folder: Path, recorded: RecordedSource | None) -> tuple[Conversion | None, dict]:
    """The worker's job for a runtime: the source as given, an --artifact, or a conversion validated here."""
    input_names = [spec.name for spec in graph_input_specs(loaded.model)]
    output_names = [output.name for output in loaded.model.graph.output]
    job = {"runtime": name, "threads": settings.threads, "budget": settings.budget.__dict__,
           "input_names": input_names, "signature_inputs": dict(zip(input_names, input_names, strict=True)),
           "signature_outputs": dict(zip(output_names, source_output_names(loaded.model), strict=True))}
    if name == "source":
        return None, {**job, "source": str(source), "load_options": options.to_keys(),
                      "framework": {"tensorflow": "tensorflow", "torch": "torch"}.get(loaded.source.framework,
                                                                                        "onnxruntime")}
    if name in settings.artifacts:
        path = Path(settings.artifacts[name])
        return Conversion(name, str(path), "given"), {**job, "path": str(path)}
    path = folder / f"model{artifact_suffix(name)}"
    began = time.perf_counter()
    result = convert(lambda: loaded, name, path, force=True, samples=settings.samples, tolerances=settings.tolerances,
                     from_file=options.inputs_file is not None, recorded=recorded)
    seconds = round(time.perf_counter() - began, 2)
    verdict = result.report.verdict if result.report is not None else "passed"
    if not result:
        line = result.report.verdict_line() if result.report is not None else "failed"
        return Conversion(name, str(path), verdict, seconds, line), {**job, "error": f"not timed: conversion {line}"}
    details = result.artifact
    signature_inputs = {n: details.get("inputs", {}).get(n, n) for n in input_names}
    signature_outputs = {n: details.get("outputs", {}).get(n, n) for n in output_names}
    return Conversion(name, str(path), verdict, seconds), {**job, "path": str(path),
                                                           "signature_inputs": signature_inputs,
                                                           "signature_outputs": signature_outputs}


def _measure(name: str, job: dict, feeds: dict[int, Path], skipped: dict, settings: BenchSettings,
             folder: Path) -> RuntimeResult:
    """Run the job in a worker process; its result, or why there is none."""
    runtime = RUNTIMES[name]
    path = job.get("path")
    size = round(_size_bytes(Path(path)) / 2**20, 3) if path else _source_size(job.get("source"))
    base = RuntimeResult(name, runtime.label, path, size)
    skips = tuple(BatchTiming(batch, error=f"not timed: {why}") for batch, why in skipped.items())
    if "error" in job:
        return replace(base, error=job["error"])
    job_path, result_path = folder / f"job_{name}.json", folder / f"result_{name}.json"
    job_path.write_text(json.dumps({**job, "feeds": {str(b): str(p) for b, p in feeds.items()}}))
    timeout = LOAD_SECONDS + len(feeds) * (settings.budget.max_seconds * 3 + 60)
    try:
        done = subprocess.run([sys.executable, "-m", "converter.bench.worker", str(job_path), str(result_path)],
                              capture_output=True, text=True, timeout=timeout, env=_worker_environment(settings))
    except subprocess.TimeoutExpired:
        return replace(base, error=f"timed out after {timeout:.0f} s", batches=skips)
    if done.returncode != 0 or not result_path.exists():
        why = f"killed by signal {-done.returncode} (out of memory?)" if done.returncode < 0 else \
            (done.stderr.strip().splitlines() or ["no result"])[-1][:300]
        return replace(base, error=f"the worker failed: {why}", batches=skips)
    data = json.loads(result_path.read_text())
    result = RuntimeResult.from_dict({**data, "runtime": name, "label": runtime.label, "artifact": path,
                                      "size_mb": size})
    return replace(result, batches=tuple(sorted((*result.batches, *skips), key=lambda t: t.batch)))


def _worker_environment(settings: BenchSettings) -> dict[str, str]:
    """The worker finds this graphtool, and OpenMP-style pools take the same thread budget."""
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    threads = str(settings.threads)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
            "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1"}


def _size_bytes(path: Path) -> int:
    """A file's size (with its external-data file), or a folder's total."""
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    data = external_data.data_path(path)
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0) if path.exists() else 0


def _source_size(source: str | None) -> float | None:
    path = Path(source) if source else None
    return round(_size_bytes(path) / 2**20, 3) if path is not None and path.exists() else None


def _with_ratios(results: tuple[RuntimeResult, ...]) -> tuple[RuntimeResult, ...]:
    """Each timing's p50 over the source's p50 at the same batch, where both were measured."""
    source = next((r for r in results if r.runtime == "source"), None)
    if source is None:
        return results

    def ratio(timing: BatchTiming) -> BatchTiming:
        base = source.at(timing.batch)
        if timing.p50_ms is None or base is None or not base.p50_ms:
            return timing
        return replace(timing, vs_source=float(f"{timing.p50_ms / base.p50_ms:.4g}"))  # small ratios too

    return tuple(replace(r, batches=tuple(map(ratio, r.batches))) for r in results)


def _notes(before: tuple, after: tuple, results: tuple[RuntimeResult, ...]) -> tuple[str, ...]:
    notes = [f"load average {before[0]:.2f} at the start, {after[0]:.2f} at the end, on {os.cpu_count()} cores"]
    unstable = [f"{r.runtime} at batch {t.batch} (spread {t.spread:.0%})" for r in results for t in r.batches
                if t.p50_ms is not None and not t.stable]
    if unstable:
        notes.append("noisy: the median did not settle within the time cap for " + ", ".join(unstable) +
                     "; rerun on a quieter machine or raise --max-seconds")
    return tuple(notes)


def _machine() -> dict:
    versions = {}
    for package in ("onnxruntime", "tensorflow", "torch", "onnx"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "versions": versions}

