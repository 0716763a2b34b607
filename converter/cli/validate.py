"""The validate command, and the report table that convert prints too."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from converter.cli import common, viewers
from converter.cli.common import JsonOpt
from converter.core.errors import GraphtoolError
from converter.core.precision import check_precision
from converter.core.types import LoadOptions

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["register", "print_report", "with_judging_options"]

# How outputs are judged: validate, convert and package take the same options (with_judging_options).
_JUDGING_OPTIONS: dict[str, Any] = {
    "rtol": Annotated[float | None, typer.Option("--rtol", help="Relative tolerance for every output.")],
    "atol": Annotated[float | None, typer.Option(
        "--atol", help="Absolute tolerance for every output, times its scale (max |expected|, at least 1).")],
    "tolerance": Annotated[Path | None, typer.Option(
        "--tolerance", help="JSON or YAML: output name -> {rtol, atol, error_stat, metric}.")],
    "error_stat": Annotated[str | None, typer.Option(
        "--error-stat", help="elementwise (default), max, mean or cosine: what the tolerance bounds.")],
    "metric": Annotated[list[str] | None, typer.Option(
        "--metric",
        help="Judge every output by cosine, argmax, topk:K, iou or norm (optionally >=THRESHOLD); repeatable.")],
    "allow_inconclusive": Annotated[bool, typer.Option(
        "--allow-inconclusive", help="Exit 0 when a check cannot tell (output ~0 or ignoring its input).")],
}


def with_judging_options(command: F) -> F:
    """Give a command the judging options; it receives them as one `tolerances` (api.tolerances)."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "tolerances"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                default=False if name == "allow_inconclusive" else None)
              for name, annotation in _JUDGING_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from converter import api

        given = {name: kwargs.pop(name) for name in _JUDGING_OPTIONS}
        tolerances = api.tolerances(given["rtol"], given["atol"], given["tolerance"], error_stat=given["error_stat"],
                                    metrics=given["metric"] or (), allow_inconclusive=given["allow_inconclusive"])
        return command(*args, tolerances=tolerances, **kwargs)

    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]


def register(app: typer.Typer) -> None:
    """Add the validate command to the app."""
    app.command()(validate)


@common.handle_errors
@common.with_load_options
@with_judging_options
def validate(
    model: Annotated[str, typer.Argument(help="A model file, SavedModel directory, or file.py:NAME reference.")],
    against: Annotated[str | None, typer.Option("--against", help="Compare with this model instead.")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or all.")] = "cpu",
    samples: Annotated[int, typer.Option("--samples", min=1, help="Input samples to generate.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated samples.")] = 0,
    locate: Annotated[bool, typer.Option("--locate", help="Find the first node whose output diverges.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write the full report as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write error histograms (SVG) here.")] = None,
    html: viewers.HtmlOpt = None,
    tensorboard: viewers.TensorBoardOpt = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Check a live server at this URL instead.")] = None,
    protocol: Annotated[str, typer.Option("--protocol", help="auto, tfserving, v2 or torchserve.")] = "auto",
    served_name: Annotated[str | None, typer.Option("--model", help="The endpoint's model name.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing report, plots, HTML report or TensorBoard run.")
    ] = False,
    precision: Annotated[str | None, typer.Option(
        "--precision", help="Judge by this precision's budget (fp16, bf16, int8-dynamic, int8): a model or server "
        "whose precision its interface does not show, e.g. int8 with float inputs.")] = None,
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
    tolerances: Any = None,  # from the judging options (with_judging_options)
    json: JsonOpt = False,
) -> None:
    """Check that MODEL's ONNX computes what its source computes (or what OTHER computes), per device."""
    from converter import api

    if precision is not None:
        tolerances = tolerances.with_precision(check_precision(precision))
    if endpoint is None:
        result = api.validate(model, against, device=device, options=options, samples=samples, seed=seed,
                              tolerances=tolerances, locate=locate, report=report, plot=plot, html=html,
                              tensorboard=tensorboard, force=force)
    elif against is not None or locate or device != "cpu" or html is not None or tensorboard is not None:
        raise GraphtoolError("--endpoint checks a live server: it takes no --against, --locate, --device, "
                             "--html or --tensorboard")
    else:
        result = api.validate_endpoint(model, endpoint, protocol=protocol, endpoint_model=served_name,
                                       options=options, samples=samples, seed=seed, tolerances=tolerances,
                                       report=report, plot=plot, force=force)
    if result.plots and not json and not common.settings.quiet:
        common.err.print(f"wrote {len(result.plots)} plot(s) to {plot}", markup=False)
    if json:
        common.print_json(result.to_dict())
    else:
        print_report(result)
        viewers.print_views(result.views)
    raise typer.Exit(0 if result else 1)


def print_report(report) -> None:
    """A table per device and output, the reasons and diagnosis, the located node, and the verdict."""
    from converter.api import rule_text

    if not common.settings.quiet:
        common.out.print(f"reference: {escape(report.reference)}; {len(report.samples)} sample(s):")
        for sample in report.samples:
            common.out.print(escape(f"  {sample.index}: {sample.label}"))
    for problem in report.signature_problems:
        common.out.print(f"[red]signature mismatch[/red] {escape(problem)}")
    for device in report.devices:
        if device.status == "skipped":
            common.out.print(f"[yellow]{device.device}: skipped[/yellow] ({escape(device.reason or '')})")
            continue
        stats = dict.fromkeys(o.tolerance.error_stat for o in device.outputs) or {"elementwise": None}
        table = Table(title=f"{device.device}: {device.runner}", title_justify="left", box=None,
                      caption=None if common.settings.quiet else "\n".join(rule_text(s) for s in stats),
                      caption_justify="left")
        tasks = any(o.task for o in device.outputs)
        columns = ("output", "max abs", "max rel", "mean abs", "cosine", "outside", "scale", "rtol / atol",
                   *(("metrics",) if tasks else ()), "verdict")
        for column in columns:
            table.add_column(column, overflow="fold")  # wrap, never cut with "…"
        for output in device.outputs:
            table.add_row(*_row(output, tasks))
        _print_table(table)
        _print_findings(device)
        _print_located(device)
    for note in report.notes:
        common.out.print(f"note: {escape(note)}")
    line = escape(report.verdict_line)
    word, _, rest = line.partition(":")
    colour = {"passed": "green", "inconclusive": "yellow"}.get(report.verdict, "red")
    common.out.print(f"[{colour}]{word}[/{colour}]" + (f":{rest}" if rest else ""))


_VERDICTS = {"passed": "[green]ok[/green]", "failed": "[red]MISMATCH[/red]",
             "inconclusive": "[yellow]INCONCLUSIVE[/yellow]", "failed-to-run": "[red]FAILED TO RUN[/red]"}


def _row(output, tasks: bool) -> tuple[str, ...]:
    # an output never computed has no figures: a row of zeros would read as a perfect match
    figures = (f"{output.max_abs:.3g}", f"{output.max_rel:.3g}", f"{output.mean_abs:.3g}", f"{output.cosine:.6f}",
               f"{output.outside_fraction:.2%}", f"{output.scale:.3g}") if output.elements else ("-",) * 6
    verdict = _VERDICTS.get(output.verdict, _VERDICTS["passed" if output.passed else "failed"])
    if output.noise and output.verdict == "passed":
        verdict += " (noise floor)"
    metrics = ", ".join(f"{m.name} {m.value:.6g} (>= {m.threshold:g})" for m in output.task) or "-"
    tolerance = f"{output.tolerance.rtol:g} / {output.tolerance.atol:g}"
    if output.tolerance.error_stat != "elementwise":
        tolerance += f" ({output.tolerance.error_stat})"
    return (escape(output.name), *figures, tolerance, *((escape(metrics),) if tasks else ()), verdict)


def _print_findings(device) -> None:
    """Under the table: the outputs' problems, verdict reasons and noise floors (one line for the outputs that
    share it, as outputs of one failed run do); then the diagnosis."""
    lines: dict[str, list] = {}
    for output in device.outputs:
        for line in dict.fromkeys([*output.problems, *([output.reason] if output.reason else []), *output.noise]):
            lines.setdefault(line, []).append(output)
    for line, outputs in lines.items():
        colour = "yellow" if all(o.verdict in ("inconclusive", "passed") for o in outputs) else "red"
        names = ", ".join(o.name for o in outputs)
        common.out.print(f"  [{colour}]{escape(names)}[/{colour}]: {escape(line)}")
    for line in device.diagnosis:
        common.out.print(f"[bold]diagnosis:[/bold] {escape(line)}")


def _print_table(table: Table) -> None:
    """On a terminal, fit its width; elsewhere (a pipe, a CI log) as wide as the names need, never cut."""
    if common.out.is_terminal:
        common.out.print(table)
        return
    from rich.measure import Measurement

    natural = Measurement.get(common.out, common.out.options.update_width(10_000), table).maximum
    width = common.out.width
    common.out.width = max(natural, width)
    try:
        common.out.print(table)
    finally:
        common.out.width = width


def _print_located(device) -> None:
    located = device.located
    if located is None:
        if device.locate_note:
            common.out.print(f"locate: {escape(device.locate_note)}")
        return
    where = f" in scope '{escape(located.scope)}'" if located.scope else ""
    source = f" at {escape(located.source)}" if located.source else ""
    common.out.print(f"[bold]first divergent node:[/bold] {escape(located.node)} ({located.op_type}){where}{source}")
    detail = located.problem or f"max abs {located.max_abs:.3g}, max rel {located.max_rel:.3g}"
    common.out.print(f"  output {escape(located.tensor)}: {escape(detail)}")
    for item in located.inputs:
        error = "not paired" if item.max_abs is None else f"max abs {item.max_abs:.3g}"
        common.out.print(f"  input {escape(item.tensor)} ({item.kind}): {error}")
    common.out.print(f"  [dim]{located.compared} tensors compared in {located.windows} window(s), "
                     f"{escape(located.method)}[/dim]")
