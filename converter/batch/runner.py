"""Run a manifest's tasks as Ray tasks, one worker process each: results written as they finish, then a summary."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from converter.batch.cluster import ray_cluster
from converter.batch.manifest import Manifest, Task
from converter.batch.summary import BatchSummary, Row, write_json
from converter.batch.tasks import SCHEMA, run_task
from converter.core.deadline import uninterrupted

__all__ = ["BatchOptions", "run_batch", "result_path"]

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class BatchOptions:
    """Where results go and how the batch runs; `timeout` is each task's wall-clock limit in seconds."""

    results: Path
    address: str | None = None
    workers: int | None = None
    timeout: float = 1800.0
    resume: bool = False
    retries: int = 1  # for a lost worker or node only; a wrong result is never retried
    reuse_workers: bool = False  # a worker runs task after task: imports paid once, state shared between models


def result_path(results: Path, task: Task) -> Path:
    return results / "results" / f"{task.slug}.json"


def run_batch(manifest: Manifest, options: BatchOptions, on_row: Callable[[Row], None] | None = None) -> BatchSummary:
    """Every task of `manifest` to a row; Ctrl-C returns the rows that finished, marked interrupted."""
    started = time.perf_counter()
    (options.results / "results").mkdir(parents=True, exist_ok=True)
    notify = on_row or (lambda row: None)
    rows: dict[str, Row] = {}
    todo = []
    for task in manifest.tasks:
        earlier = _finished(result_path(options.results, task), task) if options.resume else None
        if earlier is None:
            todo.append(task)
        else:
            rows[task.key] = replace(earlier, resumed=True)
            notify(rows[task.key])
    cluster: dict = {}
    interrupted = False
    if todo:
        try:  # around the cluster too: a Ctrl-C while it starts or stops still leaves the finished rows a summary
            with ray_cluster(options.address, options.workers) as cluster:
                _schedule(todo, options, cluster, rows, notify)
        except KeyboardInterrupt:
            interrupted = True
    ordered = tuple(rows[t.key] for t in manifest.tasks if t.key in rows)
    summary = BatchSummary(str(manifest.path), ordered, time.perf_counter() - started, cluster, interrupted)
    with uninterrupted():
        summary.write(options.results)
    return summary


def _finished(path: Path, task: Task) -> Row | None:
    """The row of an earlier run of the same task (same model content and options), if it finished."""
    try:
        document = json.loads(path.read_text())
        return Row.from_dict(document["row"]) if document["task"]["key"] == task.key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class _Running:
    task: Task
    started: float
    attempt: int
    notes: tuple[str, ...] = ()


def _schedule(todo: list[Task], options: BatchOptions, cluster: dict, rows: dict, notify) -> None:
    """Keep at most `workers` tasks in flight; collect each as it ends; kill those past their timeout."""
    import ray

    # max_calls=1: a fresh process per task, so nothing one model leaves behind (threads, memory) reaches the next
    remote = ray.remote(num_cpus=1, max_calls=0 if options.reuse_workers else 1, max_retries=0)(run_task)
    artifacts = str((options.results / "artifacts").resolve())
    cpus = max(cluster.get("cpus", 1), 1)
    limit = min(options.workers or cpus, cpus)  # no more in flight than can run: a queued task's clock would tick
    pending = deque((task, 1, ()) for task in todo)
    running: dict = {}

    def finish(task: Task, document: dict) -> None:
        with uninterrupted():  # a result on disk is a row of the summary: a Ctrl-C between the two would lose it
            write_json(result_path(options.results, task), document)
            rows[task.key] = Row.from_dict(document["row"])
        notify(rows[task.key])

    try:
        while pending or running:
            while pending and len(running) < limit:
                task, attempt, notes = pending.popleft()
                ref = remote.remote({**task.to_dict(), "slug": task.slug}, artifacts)
                running[ref] = _Running(task, time.perf_counter(), attempt, notes)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                entry = running.pop(ref)
                document, retry = _collect(ray, ref, entry, options.retries)
                if retry:
                    pending.append((entry.task, entry.attempt + 1, (*entry.notes, retry)))
                else:
                    finish(entry.task, document)
            now = time.perf_counter()
            for ref, entry in list(running.items()):
                limit_s = entry.task.options.get("timeout", options.timeout)
                if now - entry.started > limit_s:
                    ray.cancel(ref, force=True)  # kills the worker process; nothing else is affected
                    del running[ref]
                    finish(entry.task, _failure(entry, f"timed out: still running after {limit_s:g} s; its worker "
                                                       "was killed (raise --timeout or options.timeout if it is slow)"))
    finally:
        for ref in running:  # Ctrl-C: stop what is in flight; every finished result is already on disk
            ray.cancel(ref, force=True)


def _collect(ray, ref, entry: _Running, retries: int) -> tuple[dict | None, str | None]:
    """The task's document, or (None, why) when a lost worker or node earns it another attempt."""
    from ray import exceptions as rex

    try:
        document = ray.get(ref)
    except rex.OutOfMemoryError as error:
        return _failure(entry, f"out of memory: Ray's memory monitor killed its worker ({_line(error)})"), None
    except (rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError, rex.OwnerDiedError,
            rex.RaySystemError) as error:
        lost = f"attempt {entry.attempt}: {type(error).__name__}"
        if entry.attempt <= retries:
            return None, lost
        return _failure(entry, f"crashed: its worker process died on every attempt ({'; '.join((*entry.notes, lost))})"
                               ": a segfault, os._exit, the OS's OOM killer, or its node was lost"), None
    except rex.RayError as error:
        return _failure(entry, f"Ray failed to run it: {_line(error)}"), None
    if entry.notes and document["row"]["status"] == "pass":  # say so: a pass after a lost worker is not hidden
        document["row"]["reason"] = f"passed on attempt {entry.attempt} after: {'; '.join(entry.notes)}"
    return document, None


def _failure(entry: _Running, reason: str) -> dict:
    task = entry.task
    row = Row(task.model, task.target, "error", reason, None, time.perf_counter() - entry.started, task.key,
              precision=task.options.get("precision", "fp32"))
    return {"schema": SCHEMA, "task": task.to_dict(), "convert": None, "row": row.to_dict()}


def _line(error: BaseException) -> str:
    from converter.core.errors import first_line

    text = " ".join(str(error).split())
    return first_line(Exception(text), 240) if text else type(error).__name__
