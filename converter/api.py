"""The Python API the CLI is a thin layer over: load, inspect, convert, validate, diff, render and view models."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    from converter.viewers.outputs import ViewOutput

__all__ = [
    "load", "inspect", "convert", "validate", "diff", "render", "view", "ConvertResult", "ValidationReport",
    "DiffResult", "RenderResult", "LoadOptions", "LoadedModel", "TARGETS",
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
    html: str | Path | None = None,
    tensorboard: str | Path | None = None,
) -> ValidationReport:
    """MODEL's ONNX under onnxruntime against MODEL's own framework, or MODEL against OTHER, each in its own.

    `html` / `tensorboard`: also write the per-node error as an HTML report / the error plots as a TensorBoard
    run (listed in the report's `views`)."""
    options = options or LoadOptions()

    def run(first: Callable[[], LoadedModel], other: Callable[[], LoadedModel] | None) -> ValidationReport:
        return run_validation(first, other, device=device, samples=samples, seed=seed, tolerances=tolerances,
                              locate=locate, from_file=options.inputs_file is not None,
                              against_label=None if against is None else str(against))

    if html is None and tensorboard is None:
        return run(lambda: load(model, options), (lambda: load(against, options)) if against is not None else None)
    from converter.viewers.outputs import validate_with_views

    return validate_with_views(run, lambda source: load(source, options), model, against,
                               html=_path(html), tensorboard=_path(tensorboard))


def inspect(source: str | Path | Any, options: LoadOptions | None = None) -> Summary:
    """Load a model and summarize it."""
    return summarize(load(source, options))


def diff(a: str | Path | Any, b: str | Path | Any, options: LoadOptions | None = None, *, atol: float = 0.0,
         render_to: str | Path | None = None, force: bool = False, html: str | Path | None = None,
         tensorboard: str | Path | None = None) -> DiffResult:
    """Compare two models in any formats, matched by structure; with `render_to`, draw the diff there too;
    with `html` / `tensorboard`, write an HTML report / both graphs as TensorBoard runs (the result's views)."""
    from converter.graphs.verbs import diff_models

    return diff_models(a, b, lambda source: load(source, options), atol=atol, force=force,
                       render_to=_path(render_to), html=_path(html), tensorboard=_path(tensorboard))


def render(model: str | Path | Any, output: str | Path | None = None, options: LoadOptions | None = None, *,
           fmt: str | None = None, depth: int | None = None, expand: Iterable[str] = (), focus: str | None = None,
           radius: int = 2, max_nodes: int = 300, force: bool = False) -> RenderResult | ViewOutput:
    """Draw a model with Graphviz (default: graphviz_out/MODEL.svg), clustered by scope, big graphs folded;
    `fmt` "html" (or an `output` ending in .html) writes a self-contained HTML report instead, "tensorboard" a
    TensorBoard run into the log dir `output`."""
    from converter.graphs.verbs import render_model

    return render_model(model, lambda source: load(source, options), _path(output), fmt=fmt,
                        depth=depth, expand=expand, focus=focus, radius=radius, max_nodes=max_nodes, force=force)


def view(model: str | Path | Any, against: str | Path | Any | None = None, report: str | Path | None = None,
         options: LoadOptions | None = None, *, port: int = 0, open_browser: bool = True,
         on_ready: Callable[[str], None] | None = None) -> None:
    """Serve MODEL in Google's Model Explorer on 127.0.0.1 until Ctrl+C: beside AGAINST coloured by the diff,
    and with the per-node error of a `validate --locate` REPORT; `on_ready` gets the page's URL."""
    from converter.viewers.explorer import serve

    serve(model, against, _path(report), lambda source: load(source, options), port=port,
          open_browser=open_browser, on_ready=on_ready)


def _path(value: str | Path | None) -> Path | None:
    return Path(value) if value is not None else None
