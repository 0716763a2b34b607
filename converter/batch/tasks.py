"""One (model, target) in a worker process: the convert pipeline (sources.load, targets.convert); every error a row.

This runs below converter.api (which imports this package for api.batch), as api.convert does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from converter.batch.summary import Row

__all__ = ["run_task", "load_options", "failed_reason", "max_abs_error", "SCHEMA"]

SCHEMA = "graphtool.batch.result/1"


def run_task(task: dict, artifacts: str) -> dict:
    """Convert task['source'] to task['target'] under `artifacts`; the result document, never an exception."""
    from converter.core.errors import GraphtoolError, first_line
    from converter.pipelines.convert import convert
    from converter.sources import load
    from converter.targets.artifacts import target_named

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    started = time.perf_counter()
    document: dict[str, Any] = {"schema": SCHEMA, "task": task, "convert": None, "pid": os.getpid()}
    try:
        folder = Path(artifacts)
        folder.mkdir(parents=True, exist_ok=True)
        output = folder / (task["slug"] + (target_named(task["target"]).suffix or "_savedmodel"))
        options = load_options(task["options"])
        result = convert(lambda: load(task["source"], options), task["target"], output, force=True,
                         timeout=options.timeout, from_file=options.inputs_file is not None,
                         **_convert_options(task["options"]))
        document["convert"] = result.to_dict()
        report = result.report
        status, reason = ("pass", None) if result else ("fail", failed_reason(report))
        error = max_abs_error(report)
    except GraphtoolError as problem:
        status, reason, error = "error", first_line(problem), None
    except Exception as problem:  # a bug or a framework's own failure: this row says so, the batch goes on
        status, reason, error = "error", f"unexpected {type(problem).__name__}: {first_line(problem)}", None
    seconds = time.perf_counter() - started
    document["row"] = Row(task["model"], task["target"], status, reason, error, seconds, task["key"]).to_dict()
    return document


# manifest option -> LoadOptions field, where the names differ (the CLI's --input, --inputs and --from)
_LOAD_FIELDS = {"input": "input_specs", "inputs": "inputs_file", "from": "source_format"}


def load_options(options: dict):
    """The loading options of a task's resolved options, as LoadOptions (the others are validation's)."""
    from dataclasses import fields

    from converter.core.types import LoadOptions

    names = {f.name for f in fields(LoadOptions)}
    given = {_LOAD_FIELDS.get(k, k): v for k, v in options.items() if _LOAD_FIELDS.get(k, k) in names}
    if "inputs_file" in given:
        given["inputs_file"] = Path(given["inputs_file"])
    return LoadOptions(**given)


def _convert_options(options: dict) -> dict:
    from converter.validation.tolerance import Tolerances, check_error_stat, check_metric, load_tolerance_file

    per_output = load_tolerance_file(Path(options["tolerance"])) if "tolerance" in options else {}
    stat = check_error_stat(options["error_stat"], "options.error_stat") if "error_stat" in options else None
    metrics = (check_metric(options["metric"], "options.metric"),) if "metric" in options else ()
    return {
        "validate": options.get("validate", True),
        "keep_failed": options.get("keep_failed", False),
        "samples": options.get("samples", 3),
        "tolerances": Tolerances(options.get("rtol"), options.get("atol"), per_output, error_stat=stat,
                                 metrics=metrics, allow_inconclusive=options.get("allow_inconclusive", False)),
    }


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
