"""The validate command, and the report table that convert prints too."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from converter.cli import common, viewers
from converter.cli.common import JsonOpt
from converter.core.errors import GraphtoolError
from converter.core.types import LoadOptions

__all__ = ["register", "print_report"]


def register(app: typer.Typer) -> None:
    """Add the validate command to the app."""
    app.command()(validate)


@common.handle_errors
@common.with_load_options
def validate(
    model: Annotated[str, typer.Argument(help="A model file, SavedModel directory, or file.py:NAME reference.")],
    against: Annotated[str | None, typer.Option("--against", help="Compare with this model instead.")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or all.")] = "cpu",
    samples: Annotated[int, typer.Option("--samples", min=1, help="Input samples to generate.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated samples.")] = 0,
    rtol: Annotated[float | None, typer.Option("--rtol", help="Relative tolerance for every output.")] = None,
    atol: Annotated[float | None, typer.Option("--atol", help="Absolute tolerance for every output.")] = None,
    tolerance: Annotated[
        Path | None, typer.Option("--tolerance", help="JSON or YAML: output name -> {rtol, atol}.")
    ] = None,
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
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
    json: JsonOpt = False,
) -> None:
    """Check that MODEL's ONNX computes what its source computes (or what OTHER computes), per device."""
    from converter import api

    tolerances = api.tolerances(rtol, atol, tolerance)
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
    """A table per device and output, the located node, and the verdict."""
    from converter.api import RELATIVE_RULE

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
        table = Table(title=f"{device.device}: {device.runner}", title_justify="left", box=None,
                      caption=None if common.settings.quiet else RELATIVE_RULE, caption_justify="left")
        for column in ("output", "max abs", "max rel", "mean abs", "cosine", "outside", "rtol / atol", "verdict"):
            table.add_column(column, overflow="fold")  # wrap, never cut with "…"
        for output in device.outputs:
            verdict = "[green]ok[/green]" if output.passed else "[red]MISMATCH[/red]"
            # an output never computed has no figures: a row of zeros would read as a perfect match
            figures = (f"{output.max_abs:.3g}", f"{output.max_rel:.3g}", f"{output.mean_abs:.3g}",
                       f"{output.cosine:.6f}", f"{output.outside_fraction:.2%}") if output.elements else ("-",) * 5
            verdict = verdict if output.elements or output.passed else "[red]FAILED TO RUN[/red]"
            table.add_row(escape(output.name), *figures, f"{output.tolerance.rtol:g} / {output.tolerance.atol:g}",
                          verdict)
        _print_table(table)
        for output in device.outputs:
            for problem in output.problems:
                common.out.print(f"  [red]{escape(output.name)}[/red]: {escape(problem)}")
        _print_located(device)
    for note in report.notes:
        common.out.print(f"note: {escape(note)}")
    common.out.print("[green]PASSED[/green]" if report else "[red]FAILED[/red]: outputs differ beyond tolerance")


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
