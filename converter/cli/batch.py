"""The batch command: a manifest's models converted and validated on Ray, with a live tally and a summary."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from converter.cli import common
from converter.cli.common import JsonOpt

__all__ = ["register"]

_STYLE = {"pass": "green", "fail": "red", "error": "yellow"}


def register(app: typer.Typer) -> None:
    """Add the batch command to the app."""
    app.command()(batch)


@common.handle_errors
def batch(
    manifest: Annotated[Path, typer.Argument(help="A YAML or JSON manifest of models, targets and options.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="RESULTS_DIR: one JSON per row, summary.md/json.")],
    address: Annotated[str | None, typer.Option(
        "--address", help="Join a Ray cluster: auto or HOST:PORT (default: RAY_ADDRESS, else a private local one)."
    )] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Tasks at once (default: the cluster's CPUs).")] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=1, help="Seconds one (model, target) may run before its worker is killed.")] = 1800.0,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip tasks whose result exists for the same model content and options.")] = False,
    retries: Annotated[int, typer.Option(
        "--retries", min=0, help="Attempts more for a task whose worker or node was lost.")] = 1,
    reuse_workers: Annotated[bool, typer.Option(
        "--reuse-workers", help="Run task after task in a worker: faster, less isolated.")] = False,
    json: JsonOpt = False,
) -> None:
    """Convert and validate every (model, target) of MANIFEST as Ray tasks; exit 0 if all pass, 1 if any do not."""
    from converter import api

    with _tally(json) as (on_start, on_row):
        summary = api.batch(manifest, output, address=address, workers=workers, timeout=timeout, resume=resume,
                            retries=retries, reuse_workers=reuse_workers, on_start=on_start, on_row=on_row)
    if json:
        common.print_json(summary.to_dict())
    elif not common.settings.quiet:
        _print_summary(summary, output)
    if summary.interrupted:
        common.err.print("graphtool: interrupted; finished results are kept (rerun with --resume)", markup=False)
        raise typer.Exit(130)
    raise typer.Exit(0 if summary else 1)


@contextlib.contextmanager
def _tally(json: bool):
    """(on_start, on_row) for api.batch: a bar with pass / fail / error counts on a terminal, shown once the
    manifest is read; plain lines otherwise; nothing with --json or --quiet."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    counts = {"pass": 0, "fail": 0, "error": 0}
    if json or common.settings.quiet:
        yield None, None
        return

    def label() -> str:
        return " ".join(f"[{_STYLE[k]}]{k} {n}[/{_STYLE[k]}]" for k, n in counts.items())

    progress = Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                        TimeElapsedColumn(), console=common.err, disable=not common.err.is_terminal)
    bar = progress.add_task(label(), total=None)

    def on_start(total: int) -> None:
        progress.update(bar, total=total)
        progress.start()

    def on_row(row) -> None:
        counts[row.status] += 1
        progress.update(bar, advance=1, description=label())
        if not common.err.is_terminal:
            counts_line = ", ".join(f"{k} {n}" for k, n in counts.items())
            common.err.print(f"{row.status}: {row.model} -> {row.built} ({counts_line})", markup=False)

    try:
        yield on_start, on_row
    finally:
        progress.stop()


def _print_summary(summary, output: Path) -> None:
    from rich.table import Table

    table = Table(box=None, title_justify="left", title="batch summary")
    for column in ("model", "target", "status", "max abs error", "seconds", "reason"):
        table.add_column(column, justify="right" if column in ("max abs error", "seconds") else "left")
    for row in summary.rows:
        error = "" if row.max_abs_error is None else f"{row.max_abs_error:.3g}"
        seconds = f"{row.seconds:.1f}" + (" (resumed)" if row.resumed else "")
        style = _STYLE[row.status]
        table.add_row(escape(row.model), escape(row.built), f"[{style}]{row.status}[/{style}]", error, seconds,
                      escape(row.reason or ""))
    common.out.print(table)
    counts = ", ".join(f"{n} {status}" for status, n in summary.counts.items())
    common.out.print(escape(f"{len(summary.rows)} rows: {counts} in {summary.seconds:.1f} s; "
                            f"{output / 'summary.md'}, {output / 'summary.json'}"))
