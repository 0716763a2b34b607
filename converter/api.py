"""The Python API the CLI is a thin layer over: load, inspect, convert, validate, diff and render models."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import sources
from converter.graphs.summary import Summary, summarize
from converter.sources.base import LoadedModel, LoadOptions
from converter.targets.artifacts import TARGETS
from converter.targets.convert import ConvertResult, default_output
from converter.targets.convert import convert as run_conversion
from converter.validation.engine import validate as run_validation
from converter.validation.report import ValidationReport
from converter.validation.tolerance import Tolerances

if TYPE_CHECKING:  # the graph modules load networkx and graphviz: only diff and render pay for them
    from converter.graphs.verbs import DiffResult, RenderResult

__all__ = [
    "load", "inspect", "convert", "validate", "diff", "render", "ConvertResult", "ValidationReport", "DiffResult",
    "RenderResult", "LoadOptions", "LoadedModel", "TARGETS",
]


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
    options = options or LoadOptions()
    path = Path(output) if output is not None else default_output(source, target)
    return run_conversion(lambda: load(source, options), target, path, force=force, validate=validate,
                          keep_failed=keep_failed, samples=samples, tolerances=tolerances,
                          timeout=options.timeout, from_file=options.inputs_file is not None)


def validate(
    model: str | Path | Any,
    against: str | Path | Any | None = None,
    *,
    device: str = "cpu",
    options: LoadOptions | None = None,
    samples: int = 3,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    locate: bool = False,
) -> ValidationReport:
    """MODEL's ONNX under onnxruntime against MODEL's own framework, or MODEL against OTHER, each in its own."""
    options = options or LoadOptions()
    other = (lambda: load(against, options)) if against is not None else None
    return run_validation(lambda: load(model, options), other, device=device, samples=samples, seed=seed,
                          tolerances=tolerances, locate=locate, from_file=options.inputs_file is not None,
                          against_label=None if against is None else str(against))


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
