"""The Python API the CLI is a thin layer over: load, convert and inspect models."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import sources
from converter.atomic import atomic_path, check_writable, move_into_place, remove, staging_path
from converter.deadline import deadline
from converter.graphs.summary import Summary, summarize
from converter.sources.base import LoadedModel, LoadOptions, SourceInfo
from converter.sources.common import quiet
from converter.targets.artifacts import TARGETS, target_named
from converter.validation.report import ValidationReport
from converter.validation.runners import Runner
from converter.validation.tolerance import Tolerances

if TYPE_CHECKING:  # the graph modules load networkx and graphviz: only diff and render pay for them
    from converter.graphs.verbs import DiffResult, RenderResult

__all__ = [
    "load", "convert", "inspect", "diff", "render", "ConvertResult", "DiffResult", "RenderResult", "LoadOptions",
    "LoadedModel", "TARGETS",
]


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
        }


def load(source: str | Path | Any, options: LoadOptions | None = None, **fields: Any) -> LoadedModel:
    """Load a model file, Python reference or in-memory model and normalize it to ONNX (see sources.load)."""
    return sources.load(source, options, **fields)


def convert(
    source: str | Path | Any,
    target: str = "onnx",
    output: str | Path | None = None,
    options: LoadOptions | None = None,
    force: bool = False,
    *,
    validate: bool = True,
    keep_failed: bool = False,
    samples: int = 3,
    tolerances: Tolerances | None = None,
) -> ConvertResult:
    """Load, write the target artifact atomically, then validate it against the source on the same samples.

    On a mismatch the validation report is written beside the output and the artifact is removed,
    unless `keep_failed`.
    """
    writer = target_named(target)
    path = Path(output) if output is not None else default_output(source, target)
    check_writable(path, force)  # before any slow work, so a refusal costs nothing
    loaded = load(source, options)
    staging = staging_path(path)  # validated there first: a failed artifact never replaces an existing one
    try:
        with deadline((options or LoadOptions()).timeout, f"converting to {target}"), quiet():
            artifact = _relocated(writer.write(loaded, staging, False), staging, path)
        report = None
        if validate:
            with quiet():  # frameworks log while they load an artifact
                runner = writer.runner(staging, loaded, artifact)
            report = _validate_artifact(loaded, runner, samples, tolerances or Tolerances(), options or LoadOptions())
        if report is None or report or keep_failed:
            move_into_place(staging, path, force)
    finally:
        remove(staging)
    if report is None or report:
        return ConvertResult(path, target, loaded.source, report, artifact=artifact)
    report_path = path.with_name(path.name + ".validation.json")
    with atomic_path(report_path, force=True) as temporary:
        temporary.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    return ConvertResult(path, target, loaded.source, report, report_path, removed=not keep_failed, artifact=artifact)


def _relocated(details: dict, staging: Path, path: Path) -> dict:
    """The writer's report, naming the final path rather than the staging one."""
    return {key: str(path) if value == str(staging) else value for key, value in details.items()}


def inspect(source: str | Path | Any, options: LoadOptions | None = None) -> Summary:
    """Load a model and summarize it."""
    return summarize(load(source, options))


def diff(a: str | Path | Any, b: str | Path | Any, options: LoadOptions | None = None, *, atol: float = 0.0,
         render_to: str | Path | None = None, force: bool = False) -> DiffResult:
    """Compare two models in any formats, matched by structure; with `render_to`, draw the diff there too."""
    from converter.graphs.verbs import diff_models

    return diff_models(a, b, lambda source: load(source, options), atol=atol, force=force,
                       render_to=Path(render_to) if render_to is not None else None)


def render(model: str | Path | Any, output: str | Path | None = None, options: LoadOptions | None = None, *,
           fmt: str | None = None, depth: int | None = None, expand: Iterable[str] = (), focus: str | None = None,
           radius: int = 2, max_nodes: int = 300, force: bool = False) -> RenderResult:
    """Draw a model with Graphviz (default: graphviz_out/MODEL.svg), clustered by scope, big graphs folded."""
    from converter.graphs.verbs import render_model

    return render_model(model, lambda source: load(source, options), Path(output) if output else None, fmt=fmt,
                        depth=depth, expand=expand, focus=focus, radius=radius, max_nodes=max_nodes, force=force)


def default_output(source: Any, target: str) -> Path:
    """Next to the model, with the target's suffix (a SavedModel: a NAME_savedmodel folder)."""
    suffix = target_named(target).suffix or "_savedmodel"
    text = str(source) if isinstance(source, (str, Path)) else "model"
    file, sep, name = text.rpartition(":")
    if sep and not Path(text).exists():
        return Path(file).with_name(name + suffix)
    path = Path(text.rstrip("/"))
    if path.suffix == suffix or path.name.endswith(suffix):  # never the source itself
        return path.with_name(path.stem + (".normalized" if target == "onnx" else ".converted") + suffix)
    return path.with_name(path.stem + suffix) if path.suffix else path.with_name(path.name + suffix)


def _validate_artifact(
    loaded: LoadedModel, runner: Runner, samples: int, tolerances: Tolerances, options: LoadOptions
) -> ValidationReport:
    """The written artifact, run as its target runs it, against the source framework (onnxruntime for ONNX)."""
    from converter.validation.engine import compare_sides, samples_for, side_of
    from converter.validation.runners import ort_runner

    artifact = side_of(loaded, runner)
    expected = side_of(loaded, None if loaded.reference else ort_runner(loaded.model))
    chosen = samples_for(loaded, samples, seed=0, from_file=options.inputs_file is not None)
    return compare_sides(expected, [artifact], chosen, tolerances)
