"""`graphtool bench`: every runtime of one model side by side, and a gate for speed regressions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from converter.cli import common, validate
from converter.cli.common import JsonOpt
from converter.core.errors import GraphtoolError
from converter.core.types import LoadOptions

__all__ = ["register"]

RUNTIMES = "source,onnx,savedmodel,tflite,pt2,torchscript"


def register(app: typer.Typer) -> None:
    """Add bench to the app."""
    app.command()(bench)


@common.handle_errors
@common.with_load_options
@validate.with_judging_options
def bench(
    model: Annotated[str, typer.Argument(help="A model file, SavedModel directory, or file.py:NAME reference.")],
    targets: Annotated[str, typer.Option("--targets", help=f"Runtimes to time, comma-separated: {RUNTIMES}.")] = (
        RUNTIMES),
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes, comma-separated.")] = "1,8",
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Threads for every runtime; default: the "
                                                "machine's cores.")] = None,
    artifact: Annotated[list[str] | None, typer.Option("--artifact", help="TARGET=PATH: time this artifact instead "
                                                       "of converting; repeatable.")] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Samples each conversion is validated on.")] = 3,
    keep: Annotated[Path | None, typer.Option("--keep", help="Keep the converted artifacts in this folder.")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="An earlier `bench --json`: exit 1 when a "
                                                  "runtime got slower than --max-slowdown beyond its noise.")] = None,
    max_slowdown: Annotated[str, typer.Option("--max-slowdown", help="Allowed slowdown against --baseline, "
                                              "e.g. 10%.")] = "10%",
    spread: Annotated[str, typer.Option("--spread", help="Time until the median is this stable (the blocks' "
                                        "medians' coefficient of variation).")] = "5%",
    min_seconds: Annotated[float, typer.Option("--min-seconds", min=0, help="Least timing per runtime and batch.")] = (
        1.0),
    max_seconds: Annotated[float, typer.Option("--max-seconds", min=0.1, help="Most timing per runtime and batch; "
                                               "a median not stable by then is reported as noisy.")] = 8.0,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Also drive a live server at this URL.")] = None,
    protocol: Annotated[str, typer.Option("--protocol", help="auto, tfserving, v2 or torchserve.")] = "auto",
    served_name: Annotated[str | None, typer.Option("--model", help="The endpoint's model name.")] = None,
    concurrency: Annotated[str, typer.Option("--concurrency", help="Closed-loop clients, comma-separated.")] = "1,4",
    endpoint_seconds: Annotated[float, typer.Option("--endpoint-seconds", min=0.1, help="Load per concurrency "
                                                    "level.")] = 5.0,
    serves: Annotated[str | None, typer.Option("--serves", help="The runtime the server runs (its overhead is "
                                               "against that); default: guessed from the protocol.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the latency charts as one HTML page.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --html file.")] = False,
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
    tolerances: Any = None,  # from the judging options (validate.with_judging_options)
    json: JsonOpt = False,
) -> None:
    """Time MODEL in every runtime (converted and validated first), each in a process of its own, side by side."""
    from converter import api

    settings = api.bench_settings(
        runtimes=_names(targets, "--targets"), batch_sizes=_numbers(batch, "--batch"), threads=threads,
        artifacts=_artifacts(artifact or []), samples=samples, tolerances=tolerances, keep=keep, baseline=baseline,
        max_slowdown=_percent(max_slowdown, "--max-slowdown"), cv_target=_percent(spread, "--spread"),
        min_seconds=min_seconds, max_seconds=max_seconds)
    load = api.endpoint_load(endpoint, protocol=protocol, model=served_name,
                             concurrency=_numbers(concurrency, "--concurrency"), seconds=endpoint_seconds,
                             serves=serves) if endpoint else None
    result = api.bench(model, options, settings, endpoint=load, html=html, force=force)
    if json:
        common.print_json(result.to_dict())
    else:
        _print(result, html)
    raise typer.Exit(0 if result else 1)


def _names(text: str, flag: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise GraphtoolError(f"{flag} {text!r}: expected a comma-separated list, e.g. {RUNTIMES}")
    return names


def _numbers(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise GraphtoolError(f"{flag} {text!r}: expected whole numbers separated by commas, e.g. 1,8") from error


def _percent(text: str, flag: str) -> float:
    try:
        return float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
    except ValueError as error:
        raise GraphtoolError(f"{flag} {text!r}: expected a percentage such as 10% (or a fraction, 0.1)") from error


def _artifacts(given: list[str]) -> dict[str, Path]:
    found = {}
    for item in given:
        target, sep, path = item.partition("=")
        if not sep or not path:
            raise GraphtoolError(f"--artifact {item!r}: expected TARGET=PATH, e.g. --artifact onnx=model.onnx")
        found[target.strip()] = Path(path)
    return found


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _print(result: Any, html: Path | None) -> None:
    runtimes = Table(title=f"{result.model}: {result.threads} threads per runtime, each in its own process",
                     title_justify="left")
    for column in ("runtime", "size MiB", "load s", "peak MiB", "problem"):
        runtimes.add_column(column, justify="left" if column in ("runtime", "problem") else "right")
    for runtime in result.runtimes:
        runtimes.add_row(runtime.runtime, _ms(runtime.size_mb), _ms(runtime.load_s), _ms(runtime.peak_rss_mb),
                         f"[red]{escape(runtime.error)}[/red]" if runtime.error else "")
    common.out.print(runtimes)
    for batch in result.batch_sizes:
        table = Table(title=f"batch {batch}", title_justify="left")
        for column in ("runtime", "1st ms", "p50 ms", "p90 ms", "p99 ms", "spread", "per s", "x source"):
            table.add_column(column, justify="left" if column == "runtime" else "right")
        for runtime in result.runtimes:
            timing = runtime.at(batch)
            if runtime.error:
                continue
            if timing is None or timing.error:
                table.add_row(runtime.runtime, f"[red]{escape(timing.error if timing else 'not timed')}[/red]")
                continue
            table.add_row(runtime.runtime, _ms(timing.first_call_ms), _ms(timing.p50_ms), _ms(timing.p90_ms),
                          _ms(timing.p99_ms), f"{timing.spread:.1%}" + ("" if timing.stable else " noisy"),
                          _ms(timing.throughput), "" if timing.vs_source is None else f"{timing.vs_source:.3g}x")
        for row in (e for e in result.endpoint if e.batch == batch):
            label = escape(f"{row.protocol} x{row.concurrency}")
            if row.error and not row.requests:
                table.add_row(label, f"[red]{escape(row.error)}[/red]")
                continue
            overhead = "" if row.overhead is None else f"{row.overhead:.3g}x {row.served_runtime}"
            table.add_row(label, "", _ms(row.p50_ms), _ms(row.p90_ms), _ms(row.p99_ms),
                          f"{row.errors} errors" if row.errors else "", _ms(row.throughput), overhead)
        common.out.print(table)
    for conversion in result.conversions:
        detail = f": {conversion.detail}" if conversion.detail else ""
        common.out.print(escape(f"{conversion.target}: {conversion.verdict}{detail} ({conversion.path})"))
    for note in result.notes:
        common.out.print(escape(note))
    if html is not None:
        common.out.print(escape(f"charts: {html}"))
    if result.baseline is not None:
        if result:
            common.out.print(f"[green]PASSED[/green]: no runtime slower than {escape(result.baseline)} by more than "
                             f"{result.max_slowdown:.0%} beyond the noise")
        for slowdown in result.slowdowns:
            common.out.print(f"[red]SLOWER[/red]: {escape(str(slowdown))}")
