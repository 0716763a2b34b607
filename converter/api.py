"""The Python API the CLI is a thin layer over: load, inspect, convert, validate, diff, render, view, package, serve,
batch, bench."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import sources
from converter.batch.manifest import Manifest
from converter.batch.summary import BatchSummary, Row
from converter.core.errors import GraphtoolError
from converter.core.types import LoadedModel, LoadOptions
from converter.graphs.summary import Summary, summarize
from converter.pipelines.convert import ConvertResult, convert_source, default_output
from converter.pipelines.precision import PrecisionSettings, precision_settings
from converter.sources.audit import Audit, UntrustedCodeError
from converter.sources.audit.dispatch import audit_file
from converter.sources.contents import Contents, NeedsInputsError
from converter.targets.artifacts import TARGETS
from converter.validation.engine import validate as run_validation
from converter.validation.metrics import RELATIVE_RULE, rule_text
from converter.validation.report import ValidationReport
from converter.validation.tolerance import Tolerances

if TYPE_CHECKING:  # the graph modules load networkx and graphviz, the server fastapi: only their verbs pay for them
    from converter.bench.endpoint import EndpointLoad
    from converter.bench.report import BenchReport
    from converter.bench.run import BenchSettings
    from converter.deploy.package import PackageResult
    from converter.deploy.server import ServeResult
    from converter.pipelines.graph_verbs import DiffResult, RenderResult
    from converter.viewers.outputs import ViewOutput

__all__ = [
    "load", "inspect", "convert", "validate", "validate_endpoint", "diff", "render", "view", "package", "serve",
    "batch", "bench", "bench_settings", "endpoint_load", "audit", "tolerances", "precision_settings",
    "PrecisionSettings", "ConvertResult", "ValidationReport",
    "BatchSummary", "Row", "Audit",
    "UntrustedCodeError", "LoadOptions", "LoadedModel", "TARGETS", "RELATIVE_RULE",
    "rule_text",
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
    precision: PrecisionSettings | None = None,
) -> ConvertResult:
    """Load, write the target artifact atomically, then validate it against the source on the same samples.

    `precision` (precision_settings): build it in fp16, bf16 or int8 too, judged against the source by its budget.
    On a mismatch the validation report is written beside the output and the artifact is removed,
    unless `keep_failed`.
    """
    if precision is not None and not precision.request.is_float and not validate:
        raise GraphtoolError("--no-validate: a low-precision build is judged against its budget, which is what makes "
                             "it shippable; drop --no-validate")
    path = Path(output) if output is not None else default_output(source, target)
    return convert_source(source, target, path, options, force=force, validate=validate, keep_failed=keep_failed,
                          samples=samples, tolerances=tolerances, precision=precision)


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
    report: str | Path | None = None,
    plot: str | Path | None = None,
    html: str | Path | None = None,
    tensorboard: str | Path | None = None,
    force: bool = False,
) -> ValidationReport:
    """MODEL's ONNX under onnxruntime against MODEL's own framework, or MODEL against OTHER, each in its own.

    Also writes, where given: `report` (the JSON report), `plot` (a folder of error histograms), `html` (the
    per-node error as an HTML report), `tensorboard` (the error plots as a TensorBoard run); the last two are
    listed in the result's `views`. None replaces an existing file unless `force`; all are checked before the
    slow part. A live server is checked with validate_endpoint.
    """
    options = options or LoadOptions()
    _check_outputs_writable(report, force)

    def run(first: Callable[[], LoadedModel], other: Callable[[], LoadedModel] | None) -> ValidationReport:
        return run_validation(first, other, device=device, samples=samples, seed=seed, tolerances=tolerances,
                              locate=locate, from_file=options.inputs_file is not None,
                              against_label=None if against is None else str(against))

    if html is None and tensorboard is None:
        result = run(lambda: load(model, options), (lambda: load(against, options)) if against is not None else None)
    else:
        from converter.viewers.outputs import validate_with_views

        result = validate_with_views(run, lambda source: load(source, options), model, against,
                                     html=_path(html), tensorboard=_path(tensorboard), force=force)
    return _write_outputs(result, report, plot, force)


def tolerances(rtol: float | None = None, atol: float | None = None, file: str | Path | None = None, *,
               error_stat: str | None = None, metrics: Iterable[str] = (),
               allow_inconclusive: bool = False) -> Tolerances:
    """How every output is judged: `rtol`, `atol` (None keeps the dtype's default), the `error_stat`
    (elementwise, max, mean, cosine), task `metrics` (cosine, argmax, topk:K, iou, norm, each optionally >=THRESHOLD),
    per output from a JSON or YAML `file` ({output: {rtol, atol, error_stat, metric}}), and whether an
    inconclusive check may pass (`allow_inconclusive`)."""
    return Tolerances.from_options(rtol, atol, file, error_stat, metrics, allow_inconclusive)


def _check_outputs_writable(report: str | Path | None, force: bool) -> None:
    from converter.core.atomic import check_writable

    if report is not None:  # the plots' folder is checked file by file as they are written
        check_writable(Path(report), force)


def _write_outputs(result: ValidationReport, report: str | Path | None, plot: str | Path | None,
                   force: bool) -> ValidationReport:
    """Write the plots, then the JSON report (which lists them) a validation was asked for."""
    if plot is not None:
        from converter.validation.plot import write_plots

        result = replace(result, plots=tuple(str(path) for path in write_plots(result, Path(plot), force)))
    if report is not None:
        from converter.validation.report import write_report

        write_report(result, Path(report), force)
    return result


def inspect(source: str | Path | Any, options: LoadOptions | None = None) -> Summary | Contents:
    """Load a model and summarize it; a PyTorch model without input shapes: what it holds, untraced."""
    try:
        return summarize(load(source, replace(options or LoadOptions(), value_shapes=False)))
    except NeedsInputsError as error:
        if error.contents is None:
            raise
        return error.contents


def audit(source: str | Path, options: LoadOptions | None = None) -> Audit:
    """Check a model file's graph op by op against the pure-op allowlist, running nothing of it."""
    return audit_file(source, options)


def diff(a: str | Path | Any, b: str | Path | Any, options: LoadOptions | None = None, *, atol: float = 0.0,
         render_to: str | Path | None = None, force: bool = False, html: str | Path | None = None,
         tensorboard: str | Path | None = None, options_b: LoadOptions | None = None,
         progress: Callable[[str], None] | None = None) -> DiffResult:
    """Compare two models in any formats, matched by structure; with `render_to`, draw the diff there too;
    with `html` / `tensorboard`, write an HTML report / both graphs as TensorBoard runs (the result's views).

    `options` load A, and B too unless `options_b` is given (each side its own --input specs)."""
    from converter.pipelines.graph_verbs import diff_models

    options_b = options if options_b is None else options_b
    return diff_models(a, b, lambda source: load(source, options), atol=atol, force=force,
                       render_to=_path(render_to), html=_path(html), tensorboard=_path(tensorboard),
                       progress=progress, load_b=lambda source: load(source, options_b))


def render(model: str | Path | Any, output: str | Path | None = None, options: LoadOptions | None = None, *,
           fmt: str | None = None, depth: int | None = None, expand: Iterable[str] = (), focus: str | None = None,
           radius: int = 2, max_nodes: int = 300, force: bool = False,
           progress: Callable[[str], None] | None = None) -> RenderResult | ViewOutput:
    """Draw a model with Graphviz (default: graphviz_out/MODEL.svg), clustered by scope, big graphs folded;
    `fmt` "html" (or an `output` ending in .html) writes a self-contained HTML report instead, "tensorboard" a
    TensorBoard run into the log dir `output`."""
    from converter.pipelines.graph_verbs import render_model

    return render_model(model, lambda source: load(source, options), _path(output), fmt=fmt,
                        depth=depth, expand=expand, focus=focus, radius=radius, max_nodes=max_nodes, force=force,
                        progress=progress)


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


def validate_endpoint(model: str | Path | Any, url: str, *, protocol: str = "auto", endpoint_model: str | None = None,
                      options: LoadOptions | None = None, samples: int = 3, seed: int = 0,
                      tolerances: Tolerances | None = None, report: str | Path | None = None,
                      plot: str | Path | None = None, force: bool = False) -> ValidationReport:
    """MODEL in its own framework against a live server at `url` (TF Serving v1, Open Inference v2, TorchServe);
    `report` and `plot` as for validate."""
    from converter.core.naming import model_name
    from converter.deploy.endpoint import validate_endpoint as run_endpoint

    options = options or LoadOptions()
    _check_outputs_writable(report, force)
    result = run_endpoint(lambda: load(model, options), url, endpoint_model or model_name(model),
                          protocol=protocol, samples=samples, seed=seed, tolerances=tolerances,
                          from_file=options.inputs_file is not None)
    return _write_outputs(result, report, plot, force)


def package(source: str | Path | Any, server: str, output: str | Path, options: LoadOptions | None = None, *,
            name: str | None = None, version: int | None = None, label: str | None = None, format: str | None = None,
            force: bool = False, samples: int = 3, tolerances: Tolerances | None = None) -> PackageResult:
    """Convert and validate as convert does, lay the artifact out the way `server` loads it, and load it back."""
    from converter.core.naming import model_name
    from converter.deploy.package import package as run_package

    options = options or LoadOptions()
    return run_package(lambda: load(source, options), server, Path(output), name=name or model_name(source),
                       version=version, label=label, format=format, force=force, samples=samples,
                       timeout=options.timeout, from_file=options.inputs_file is not None, tolerances=tolerances)


def serve(model: str | Path, *, host: str = "127.0.0.1", port: int = 8501, name: str | None = None,
          max_body: int = 64 * 2**20, announce: Callable[[str], None] = print, trust_code: bool = False) -> ServeResult:
    """Serve an artifact or a packaged folder (TF Serving REST v1 and Open Inference v2) until SIGTERM or Ctrl-C."""
    from converter.deploy.server import serve as run_server

    return run_server(Path(model), host=host, port=port, name=name, max_body=max_body, announce=announce,
                      trust_code=trust_code)


def batch(manifest: str | Path | Manifest, results_dir: str | Path, *, address: str | None = None,
          workers: int | None = None, timeout: float = 1800.0, resume: bool = False, retries: int = 1,
          reuse_workers: bool = False, on_start: Callable[[int], None] | None = None,
          on_row: Callable[[Row], None] | None = None) -> BatchSummary:
    """Convert and validate every (model, target) of a manifest as Ray tasks, one worker process each.

    A bad manifest raises GraphtoolError before anything runs; then `on_start` hears the number of rows.
    Each row's result is written under `results_dir` as it finishes (`on_row` hears of it), then summary.json
    and summary.md. `address` joins a running cluster (auto or HOST:PORT; default RAY_ADDRESS, else a private
    local one). Ctrl-C returns the finished rows, marked interrupted.
    """
    from converter.batch.manifest import read_manifest
    from converter.batch.runner import BatchOptions, run_batch

    plan = manifest if isinstance(manifest, Manifest) else read_manifest(Path(manifest))
    options = BatchOptions(Path(results_dir), address, workers, timeout, resume, retries, reuse_workers)
    if on_start is not None:
        on_start(len(plan.tasks))
    return run_batch(plan, options, on_row)


def bench(model: str | Path, options: LoadOptions | None = None, settings: BenchSettings | None = None, *,
          endpoint: EndpointLoad | None = None, html: str | Path | None = None, force: bool = False) -> BenchReport:
    """Every runtime of MODEL (its source framework, onnxruntime, SavedModel, TFLite, pt2, TorchScript) timed side by
    side at each batch size, each in a process of its own after a validated conversion; with settings.baseline,
    false when one got slower than allowed; `endpoint` adds a live server under load; `html` writes the charts."""
    from converter.bench.html import write_html
    from converter.bench.run import bench as run_bench
    from converter.core.atomic import check_writable

    if html is not None:
        check_writable(Path(html), force)
    result = run_bench(model, options, settings, endpoint)
    if html is not None:
        write_html(result, html, force)
    return result


def bench_settings(**fields: Any) -> BenchSettings:
    """bench's settings from their fields (runtimes, batch_sizes, threads, artifacts, samples, tolerances, keep,
    baseline, max_slowdown) and the timing budget's (cv_target, min_seconds, max_seconds); checked as made."""
    from converter.bench.run import BenchSettings
    from converter.bench.stats import Budget

    budget_fields = {name: fields.pop(name) for name in list(fields) if name in Budget.__dataclass_fields__}
    budget = Budget(**{name: value for name, value in budget_fields.items() if value is not None})
    return BenchSettings(**{name: value for name, value in fields.items() if value is not None}, budget=budget)


def endpoint_load(url: str, **fields: Any) -> EndpointLoad:
    """A live server for bench to drive: protocol, model, concurrency, seconds and serves as EndpointLoad takes them."""
    from converter.bench.endpoint import EndpointLoad

    return EndpointLoad(url, **{name: value for name, value in fields.items() if value is not None})
