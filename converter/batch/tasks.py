"""One (model, target) in a worker process: the convert pipeline api.convert runs (convert_source); every error a row.

This runs below converter.api (which imports this package for api.batch), so it calls the pipeline, as the API does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from converter.batch.summary import Row

__all__ = ["run_task", "failed_reason", "max_abs_error", "SCHEMA"]

SCHEMA = "graphtool.batch.result/1"


def run_task(task: dict, artifacts: str) -> dict:
    """Convert task['source'] to task['target'] under `artifacts`; the result document, never an exception."""
    from converter.core.errors import GraphtoolError, first_line
    from converter.core.types import LoadOptions
    from converter.pipelines.convert import artifact_suffix, convert_source

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    started = time.perf_counter()
    document: dict[str, Any] = {"schema": SCHEMA, "task": task, "convert": None, "pid": os.getpid()}
    try:
        folder = Path(artifacts)
        folder.mkdir(parents=True, exist_ok=True)
        output = folder / (task["slug"] + artifact_suffix(task["target"]))
        options = LoadOptions.from_keys(task["options"])  # as the manifest names them, like the CLI's flags
        result = convert_source(task["source"], task["target"], output, options, force=True,
                                **_convert_settings(task["options"]))
        document["convert"] = result.to_dict()
        report = result.report
        status, reason = ("pass", None) if result else ("fail", failed_reason(report))
        error = max_abs_error(report)
    except GraphtoolError as problem:
        status, reason, error = "error", first_line(problem), None
    except Exception as problem:  # a bug or a framework's own failure: this row says so, the batch goes on
        status, reason, error = "error", f"unexpected {type(problem).__name__}: {first_line(problem)}", None
    seconds = time.perf_counter() - started
    document["row"] = Row(task["model"], task["target"], status, reason, error, seconds, task["key"],
                          precision=task["options"].get("precision", "fp32")).to_dict()
    return document


def _convert_settings(options: dict) -> dict:
    """convert's settings among a task's options: those the manifest gave, and the tolerances."""
    from converter.validation.tolerance import Tolerances

    given = {name: options[name] for name in ("validate", "keep_failed", "samples") if name in options}
    from converter.pipelines.precision import precision_settings

    metrics = (options["metric"],) if "metric" in options else ()
    precision = None
    if options.get("precision", "fp32") != "fp32":
        precision = precision_settings(options["precision"], options.get("calibration"), options.get("eval"),
                                       options.get("budget", "fixed"), options.get("io_types", "float"))
    return {**given, "precision": precision, "tolerances": Tolerances.from_options(
        options.get("rtol"), options.get("atol"), options.get("tolerance"), options.get("error_stat"), metrics,
        options.get("allow_inconclusive", False), where="options.")}


def max_abs_error(report) -> float | None:
    """The largest |actual - expected| over every device and output of a validation report."""
    if report is None:
        return None
    figures = [o.max_abs for d in report.devices for o in d.outputs]
    return max(figures) if figures else None


def failed_reason(report) -> str:
    """Why a validation failed, in one line: the first failing output and its figures."""
    if report.signature_problems:
        return f"signature: {report.signature_problems[0]}"
    for device in report.devices:
        if device.status not in ("failed", "failed-to-run", "inconclusive"):
            continue
        for output in device.outputs:
            if output.verdict in ("failed-to-run", "inconclusive"):
                return f"{device.device}: output '{output.name}' {output.verdict}: {output.reason}"
            if not output.passed:
                if output.problems:
                    return f"{device.device}: output '{output.name}': {output.problems[0]}"
                return (f"{device.device}: output '{output.name}' differs: max abs error {output.max_abs:.3g}, "
                        f"{output.outside_fraction:.1%} of elements outside rtol {output.tolerance.rtol:g} "
                        f"atol {output.tolerance.atol:g}")
        return f"{device.device}: {device.reason or 'failed'}"
    return "validation failed"
