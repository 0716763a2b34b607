"""Convert a loaded model to a target: stage the artifact, validate it, move it into place, report a failure."""

from __future__ import annotations

import gc
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from converter.core import external_data
from converter.core.atomic import check_writable, move_into_place, remove, staging_path
from converter.core.deadline import deadline
from converter.core.errors import GraphtoolError, first_line
from converter.core.frameworks import quiet
from converter.core.inputs import graph_input_specs
from converter.core.naming import output_stem
from converter.core.runners import Runner
from converter.core.timing import StageTimer, stage
from converter.core.types import LoadedModel, LoadOptions, SourceInfo
from converter.pipelines.precision import (
    PrecisionReport,
    PrecisionSettings,
    artifact_bytes,
    build_within_budget,
    matched,
    precision_samples,
    record_precision,
)
from converter.pipelines.side_by_side import BATCHES, at_batch, side_by_side
from converter.sources import load
from converter.targets.artifacts import target_named
from converter.targets.precision import build_for
from converter.validation.engine import RecordedSource, record_source, validate_artifact
from converter.validation.report import ValidationReport, write_report
from converter.validation.tolerance import Tolerances

__all__ = ["ConvertResult", "convert", "write_precision", "record_and_release", "convert_source", "default_output",
           "artifact_suffix"]


@dataclass(frozen=True)
class ConvertResult:
    """The written artifact and its validation against the source; true when it passed (or was not run)."""

    output: Path
    target: str
    source: SourceInfo
    report: ValidationReport | None
    report_path: Path | None = None
    removed: bool = False
    artifact: dict = field(default_factory=dict)  # what the target's writer reports (renames, strategy, ...)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: load, normalize, build, ...
    precision: PrecisionReport | None = None  # --precision: the float32 artifact's check, the budget, the cost

    def __bool__(self) -> bool:
        return self.report is None or bool(self.report)

    def to_dict(self) -> dict:
        return {
            "output": str(self.output),
            "target": self.target,
            "source": self.source.to_dict(),
            "passed": bool(self),
            "removed": self.removed,
            "artifact": self.artifact,
            "report_path": str(self.report_path) if self.report_path else None,
            "validation": self.report.to_dict() if self.report is not None else None,
            "timings": dict(self.timings),
            "precision": self.precision.to_dict() if self.precision is not None else None,
        }


def convert(
    load: Callable[[], LoadedModel],
    target: str,
    path: Path,
    *,
    force: bool = False,
    validate: bool = True,
    keep_failed: bool = False,
    samples: int = 3,
    tolerances: Tolerances | None = None,
    timeout: float | None = None,
    from_file: bool = False,
    recorded: RecordedSource | None = None,
    precision: PrecisionSettings | None = None,
) -> ConvertResult:
    """Write the target artifact atomically, then validate it against the source on the same samples.

    `load` is called only once the target and the output are known to be fine, so a refusal costs nothing.
    The source framework is run on the samples before the target is built, and the loaded model's reference
    dropped then, so that its weights are not held beside the target's; converting one loaded model to several
    targets, pass each the `recorded` answers of record_and_release, made once.
    `precision`: build it in a lower precision (write_precision): the float32 artifact is built and validated
    first, then the low-precision one is judged against the source by its budget.
    On a mismatch the validation report is written beside the output and the artifact is removed,
    unless `keep_failed`.
    """
    writer = target_named(target)
    low = precision is not None and not precision.request.is_float
    if low:
        build_for(target, precision.request.precision, precision.request.io_types)  # refused before the load
    check_writable(path, force)
    timer = StageTimer()
    with timer:
        with timer.stage("load"):
            loaded = load()
        if low:
            result = write_precision(loaded, writer, path, precision, force, keep_failed, samples,
                                     tolerances or Tolerances(), timeout, from_file)
        else:
            result = _write_and_validate(loaded, writer, path, force, validate, keep_failed, samples, tolerances,
                                         timeout, from_file, recorded)
    return replace(result, timings=timer.to_dict())


def convert_source(source: Any, target: str, path: Path, options: LoadOptions | None = None,
                   **settings: Any) -> ConvertResult:
    """Load `source` with `options` (sources.load) and convert it: what api.convert and each batch task run.

    `settings` are convert's own (force, validate, keep_failed, samples, tolerances); the loading deadline and
    whether the samples come from a file follow from `options`.
    """
    options = options or LoadOptions()
    return convert(lambda: load(source, options), target, path, timeout=options.timeout,
                   from_file=options.inputs_file is not None, **settings)


def _write_and_validate(loaded: LoadedModel, writer: Any, path: Path, force: bool, validate: bool,
                        keep_failed: bool, samples: int, tolerances: Tolerances | None, timeout: float | None,
                        from_file: bool, recorded: RecordedSource | None = None) -> ConvertResult:
    target = writer.name
    staging = staging_path(path)  # validated there first: a failed artifact never replaces an existing one
    try:
        with external_data.weights_at(loaded.weights_dir):
            if validate and recorded is None:
                recorded = record_and_release(loaded, samples, from_file)
            with deadline(timeout, f"converting to {target}"), quiet(), stage("write"):
                artifact = _relocated(writer.write(loaded, staging, False), staging, path)
            report = None
            gc.collect()  # the converted module, before the artifact is loaded beside it: one copy of the weights
            if validate:
                with stage("validation"):
                    report = validate_artifact(loaded, lambda: _load_artifact(writer, staging, loaded, artifact),
                                               samples, tolerances or Tolerances(), from_file, recorded)
        if report is None or report or keep_failed:
            move_into_place(staging, path, force)
            external_data.move_data(staging, path)
    finally:
        remove(staging)
        external_data.remove_data(staging)
    if report is None or report:
        return ConvertResult(path, target, loaded.source, report, artifact=artifact)
    return _failed(loaded, target, path, report, force, keep_failed, artifact=artifact)


def write_precision(loaded: LoadedModel, writer: Any, path: Path, settings: PrecisionSettings, force: bool,
                    keep_failed: bool, samples: int, tolerances: Tolerances, timeout: float | None,
                    from_file: bool) -> ConvertResult:
    """The float32 artifact, validated as any conversion is; then the build in the requested precision, judged by
    its budget on its data (pipelines.precision), measured beside the float one, and moved into place if it holds.

    A float32 artifact that fails stops there: a low-precision build of a wrong conversion proves nothing.
    """
    settings = matched(settings, loaded)
    low_samples, data = precision_samples(loaded, settings, samples, from_file)
    recorded_low = record_precision(loaded, low_samples)  # before the source may be released
    scratch = Path(tempfile.mkdtemp(prefix=".graphtool-float-", dir=path.parent))
    float_path = scratch / f"float32{writer.suffix}"
    staging = staging_path(path)
    request = settings.request
    summary = PrecisionReport(request.precision, request.io_types, settings.budget, data, None)
    try:
        with external_data.weights_at(loaded.weights_dir):
            recorded = record_and_release(loaded, samples, from_file)
            with deadline(timeout, f"converting to {writer.name}"), quiet(), stage("write"):
                float_details = writer.write(loaded, float_path, False)
            with stage("validation"):
                float_report = validate_artifact(
                    loaded, lambda: _load_artifact(writer, float_path, loaded, float_details), samples, tolerances,
                    from_file, recorded)
            summary = replace(summary, float_report=float_report, float_size_bytes=artifact_bytes(float_path))
            if not float_report:
                return _failed(loaded, writer.name, path, float_report, force, keep_failed=False,
                               precision=replace(summary, budget_note="the float32 artifact failed its validation; "
                                                                      "no low-precision build was made"))
            with deadline(timeout, f"converting to {writer.name} in {request.precision}"):
                outcome = build_within_budget(loaded, writer, staging, settings, low_samples, recorded_low,
                                              tolerances)
            details, report = outcome.details, outcome.report
            summary = replace(summary, kept=outcome.kept, budget_note=outcome.note, worst=outcome.worst,
                              size_bytes=artifact_bytes(staging))
            if report or keep_failed:
                with stage("latency"):
                    try:
                        summary = replace(summary, latency=_latency(loaded, writer, staging, details, float_path,
                                                                    float_details))
                    except Exception as error:  # a runtime that fails here fails its own runs: said, not fatal
                        summary = replace(summary, latency_note=f"not measured: {first_line(error)}")
                move_into_place(staging, path, force)
    finally:
        remove(staging)
        shutil.rmtree(scratch, ignore_errors=True)
    if report:
        return ConvertResult(path, writer.name, loaded.source, report, artifact=details, precision=summary)
    return _failed(loaded, writer.name, path, report, force, keep_failed, precision=summary, artifact=details)


def _failed(loaded: LoadedModel, target: str, path: Path, report: ValidationReport, force: bool, keep_failed: bool,
            precision: PrecisionReport | None = None, artifact: dict | None = None) -> ConvertResult:
    """A conversion that did not pass: its report written beside the output."""
    report_path = path.with_name(path.name + ".validation.json")
    write_report(report, report_path, force)
    return ConvertResult(path, target, loaded.source, report, report_path, removed=not keep_failed,
                         artifact=artifact or {}, precision=precision)


def _latency(loaded: LoadedModel, writer: Any, low_path: Path, low_details: dict, float_path: Path,
             float_details: dict) -> dict[int, tuple[float, float]]:
    """Milliseconds per call of the low-precision artifact and the float32 one, side by side, at BATCHES."""
    specs = graph_input_specs(loaded.model)
    low = _load_artifact(writer, low_path, loaded, low_details)
    high = _load_artifact(writer, float_path, loaded, float_details)
    sized = {batch: at_batch(loaded.example_inputs, specs, batch) for batch in BATCHES}
    sized = {batch: feeds for batch, feeds in sized.items() if feeds is not None}
    if not sized:  # a batch dim fixed at another size: timed at that size
        first = next(iter(loaded.example_inputs.values()), None)
        sized = {len(first) if np.ndim(first) else 1: loaded.example_inputs}
    return {batch: side_by_side(low, high, feeds) for batch, feeds in sized.items()}


def record_and_release(loaded: LoadedModel, samples: int, from_file: bool) -> RecordedSource | None:
    """The source framework's answers on the validation samples (timed as 'reference'). None for an ONNX source:
    onnxruntime runs it during validation, from the weights the target is built from.

    Past the external-data threshold (the weights were moved out: `loaded.weights_dir`), the source itself is then
    let go, so that its weights are not held beside the target's; `loaded.reference` says so if called again.
    """
    if loaded.reference is None:
        return None
    with stage("reference"):
        recorded = record_source(loaded, samples, from_file)
    if loaded.weights_dir is not None:
        loaded.reference = _released(loaded)  # the only hold on the source's module (a torch one's weights)
        gc.collect()
    return recorded


def _released(loaded: LoadedModel) -> Runner:
    """Stands in for a source let go after its answers were recorded: a later run is one clear error, never a
    silent fall-back to the ONNX as its own reference."""
    path = loaded.source.path

    def run(feeds: dict) -> list:
        raise GraphtoolError(f"{path}: its source framework was released after convert recorded its answers, to "
                             "keep one copy of weights this large; load the model again to run or validate it again")

    return Runner(f"{loaded.source.framework} (released)", "cpu", run)


def _load_artifact(writer: Any, staging: Path, loaded: LoadedModel, artifact: dict) -> Any:
    with quiet():  # frameworks log while they load an artifact
        return writer.runner(staging, loaded, artifact)


def _relocated(details: dict, staging: Path, path: Path) -> dict:
    """The writer's report, naming the final path rather than the staging one."""
    return {key: str(path) + value[len(str(staging)):] if isinstance(value, str) and value.startswith(str(staging))
            else value for key, value in details.items()}  # the ONNX data file too: STAGING.data -> PATH.data


def default_output(source: Any, target: str) -> Path:
    """Beside the model file (a file.py:factory's .py file), named as every command names outputs
    (core.naming.output_stem), with the target's suffix (a SavedModel: a NAME_savedmodel folder)."""
    suffix = artifact_suffix(target)
    text = str(source) if isinstance(source, (str, Path)) else "model"
    stem = output_stem(source)
    file, sep, _ = text.rpartition(":")
    if sep and not Path(text).exists():
        return Path(file).with_name(stem + suffix)
    path = Path(text.rstrip("/"))
    if path.suffix == suffix or path.name.endswith(suffix):  # never the source itself
        return path.with_name(stem + (".normalized" if target == "onnx" else ".converted") + suffix)
    return path.with_name(stem + suffix)


def artifact_suffix(target: str) -> str:
    """How an artifact's name ends: the target's suffix, or for a SavedModel (a folder) '_savedmodel'."""
    return target_named(target).suffix or "_savedmodel"
