"""Commands on one model: convert and inspect."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from converter.cli import common, validate
from converter.cli.common import JsonOpt
from converter.core.precision import PRECISIONS
from converter.core.targets import TARGET_NAMES
from converter.core.types import LoadOptions

__all__ = ["register"]

ModelArg = Annotated[str, typer.Argument(help="A model file, SavedModel directory, or file.py:NAME reference.")]


def register(app: typer.Typer) -> None:
    """Add the single-model commands to the app."""
    app.command()(convert)
    app.command()(inspect)


@common.handle_errors
@common.with_load_options
@validate.with_judging_options
def convert(
    model: ModelArg,
    to: Annotated[
        str, typer.Option("--to", help=f"Target format: {', '.join(TARGET_NAMES[:-1])} or {TARGET_NAMES[-1]}.")
    ] = "onnx",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to write; default: beside MODEL.")] = (
        None
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output.")] = False,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="Skip the check against the source.")] = False,
    keep_failed: Annotated[bool, typer.Option("--keep-failed", help="Keep an artifact that fails validation.")] = (
        False
    ),
    samples: Annotated[int, typer.Option("--samples", min=1, help="Input samples to validate with.")] = 3,
    precision: Annotated[str, typer.Option("--precision", help=f"Build in {', '.join(PRECISIONS)}.")] = "fp32",
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", help="DATA.npz (or a folder of them) to calibrate static int8 with.")] = None,
    eval_data: Annotated[Path | None, typer.Option(
        "--eval", help="Held-out DATA.npz the low-precision build is judged on.")] = None,
    budget: Annotated[str, typer.Option(
        "--budget", help="fixed, or auto: keep the fewest layers in float32 until the budget holds.")] = "fixed",
    io_types: Annotated[str, typer.Option(
        "--io-types", help="float (inputs and outputs stay float32) or native (the precision's own).")] = "float",
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
    tolerances: Any = None,  # from the judging options (validate.with_judging_options)
    json: JsonOpt = False,
) -> None:
    """Convert MODEL to another format and check it computes the same outputs."""
    from converter import api

    settings = api.precision_settings(precision, calibration, eval_data, budget, io_types)
    with _progress(f"converting {model} to {to}", json):
        result = api.convert(model, to, output, options, force, validate=not no_validate, keep_failed=keep_failed,
                             samples=samples, tolerances=tolerances, precision=settings)
    notes = [*result.source.notes, *result.artifact.get("notes", ())]
    if result.artifact.get("select_tf_ops"):  # what mattered in the TFLite converter's silenced log
        notes.append("some ops are kept as Select TF ops: the .tflite file needs the Flex delegate "
                     "(tensorflow-lite-select-tf-ops) wherever it runs")
    _print_notes(notes)
    if json:
        common.print_json(result.to_dict())
    else:
        _print_conversion(result)
    raise typer.Exit(0 if result else 1)


@common.handle_errors
@common.with_load_options
def inspect(
    model: ModelArg,
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
    json: JsonOpt = False,
) -> None:
    """Show MODEL's format, interface, size, op mix and structure."""
    from converter import api

    try:
        with _progress(f"loading {model}", json):
            summary = api.inspect(model, options)
    except api.UntrustedCodeError as refused:  # the findings, found without running anything; then the refusal
        _print_refused_audit(refused.audit, json)
        raise
    _print_notes(summary.source.get("notes", ()))
    if json:
        common.print_json(summary.to_dict())
        return
    if hasattr(summary, "hint"):
        _print_contents(summary)
    else:
        _print_summary(summary)


def _print_refused_audit(audit, json: bool) -> None:
    from converter.cli.audit import print_audit

    if json:
        common.print_json({"audit": audit.to_dict()})
    else:
        print_audit(audit)


def _progress(message: str, json: bool):
    """A spinner on a terminal; nothing when piped, quiet or printing JSON."""
    import contextlib

    if json or common.settings.quiet or not common.err.is_terminal:
        return contextlib.nullcontext()
    return common.err.status(message)


def _print_notes(notes) -> None:
    if not common.settings.quiet:
        for note in notes:
            common.err.print(f"note: {note}", markup=False)


def _print_conversion(result) -> None:
    from converter.cli.validate import print_report

    source = result.source
    how = f" via {source.strategy}" if source.strategy else ""
    if not common.settings.quiet:
        common.out.print(escape(f"{source.path} ({source.format}{how}) -> {result.output}"))
        for attempt in source.attempts:
            if attempt.error and common.settings.verbose:
                common.out.print(escape(f"  {attempt.strategy} failed: {attempt.error}"), style="dim")
        if common.settings.verbose and result.timings:
            stages = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.timings.items())
            common.out.print(escape(f"time: {stages} (total {sum(result.timings.values()):.2f} s)"), style="dim")
    if result.report is None:
        common.out.print("written without validation (--no-validate)")
        return
    if result.precision is not None:
        _print_float_check(result.precision)
    print_report(result.report)
    if result.precision is not None:
        _print_build(result.precision, result.target)
    if result.report_path is not None:
        fate = "not kept (keep it with --keep-failed)" if result.removed else "kept (--keep-failed)"
        common.out.print(escape(f"report: {result.report_path}; the artifact was {fate}"))


def _print_float_check(summary) -> None:
    report = summary.float_report
    if report is None:
        return
    verdict = "PASSED" if report else "FAILED"
    common.out.print(f"float32 {verdict}: the float32 artifact against the source, before {summary.precision}")
    if not report:
        from converter.cli.validate import print_report

        print_report(report)


def _print_build(summary, target: str) -> None:
    """What the low-precision build bought and how its budget was kept."""
    lines = [f"{summary.precision} {target}, judged on {summary.data}"]
    if summary.size_ratio is not None and summary.size_bytes:
        lines.append(f"size {summary.size_bytes / 2**20:.2f} MiB, {summary.size_ratio:.2f}x the float32 artifact's "
                     f"{summary.float_size_bytes / 2**20:.2f} MiB")
    for batch, (low, high) in summary.latency.items():
        lines.append(f"latency at batch {batch}: {low:.2f} ms, {low / high:.2f}x the float32 artifact's "
                     f"{high:.2f} ms (medians, side by side on this machine)")
    if summary.latency and all(low > 1.1 * high for low, high in summary.latency.values()):
        lines.append(f"slower than float32 here: this runtime has no fast {summary.precision} kernels on this CPU; "
                     "the size is what it buys here (half precision pays on GPUs and NPUs)")
    if summary.latency_note:
        lines.append(f"latency {summary.latency_note}")
    if summary.budget_note:
        lines.append(f"budget {summary.budget}: {summary.budget_note}")
    for title, layers in (("kept in float32", summary.kept), ("adds the most error", summary.worst)):
        for layer in layers:
            detail = f"; {layer.detail}" if layer.detail else ""
            lines.append(f"  {title}: {layer.name} ({layer.op_type}): error {layer.error:.3g}, "
                         f"{layer.introduced:.3g} of it its own{detail}")
    for line in lines:
        common.out.print(escape(line))


def _print_contents(contents) -> None:
    source = contents.source
    common.out.print(f"[bold]{escape(source['path'])}[/bold]: {source['format']} ({source['framework']}, not traced)")
    common.out.print(escape(f"forward({', '.join(contents.signature)})"))
    mib = contents.parameter_bytes / 2**20
    common.out.print(f"{contents.parameter_count:,} parameters ({mib:.2f} MiB), {contents.buffer_count} buffers")
    if contents.submodules:
        common.out.print("submodules: " + escape(", ".join(f"{n} ({c})" for n, c in contents.submodules.items())))
    if contents.op_types:
        common.out.print(f"graph: {sum(contents.op_types.values())} ops: "
                         + escape(", ".join(f"{op} {n}" for op, n in contents.op_types.items())))
    common.out.print(f"[yellow]note:[/yellow] {escape(contents.hint)}")


def _print_summary(summary) -> None:
    source = summary.source
    how = f", captured with {source['strategy']}" if source.get("strategy") else ""
    common.out.print(f"[bold]{source['path']}[/bold]: {source['format']} ({source['framework']}{how})")
    for title, specs in (("inputs", summary.inputs), ("outputs", summary.outputs)):
        common.out.print(f"{title}:")
        for spec in specs:
            dims = ", ".join("?" if d is None else str(d) for d in spec.dims)
            common.out.print(escape(f"  {spec.name}: [{dims}] {spec.dtype}"))
    mib = summary.parameter_bytes / 2**20
    common.out.print(f"opset {summary.opset}, {summary.node_count} nodes (ops), {summary.constant_count} constants, "
                     f"{summary.parameter_count:,} parameters ({mib:.2f} MiB)")
    common.out.print("ops: " + ", ".join(f"{op} {n}" for op, n in summary.op_types.items()))
    if summary.precision is not None:
        _print_mix(summary.precision)
    if summary.scopes:
        common.out.print("scopes: " + ", ".join(f"{scope} ({n})" for scope, n in summary.scopes.items()))


def _print_mix(mix) -> None:
    common.out.print(f"precision: {escape(mix.line())}")
    if mix.precision != "float32":
        common.out.print("  initializers: " + escape(", ".join(f"{dtype} {entry['count']} ({entry['bytes']:,} bytes)"
                                                          for dtype, entry in mix.weights.items())))
        if mix.ops:
            common.out.print("  precision ops: " + escape(", ".join(f"{op} {n}" for op, n in mix.ops.items())))
