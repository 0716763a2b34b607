"""Commands on graph views: diff and render (issue 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from converter.cli import common, viewers
from converter.cli.common import JsonOpt
from converter.core.types import LoadOptions

__all__ = ["register"]

_MODEL_HELP = "A model file, SavedModel directory, or file.py:NAME reference."
ModelArg = Annotated[str, typer.Argument(help=_MODEL_HELP, metavar="MODEL")]
ModelA = Annotated[str, typer.Argument(help=f"The old model. {_MODEL_HELP}", metavar="A")]
ModelB = Annotated[str, typer.Argument(help=f"The new model. {_MODEL_HELP}", metavar="B")]
_MARKS = {
    "added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "dark_orange"),
    "weight_changed": ("~", "dark_orange"), "weight_transposed": ("=", "cyan"), "constant_folded": ("=", "cyan"),
}
_WEIGHT_WORDS = {"weight_changed": "weight ", "weight_transposed": "weight transposed ",
                 "constant_folded": "folded constant "}


def register(app: typer.Typer) -> None:
    """Add the graph commands to the app."""
    app.command()(diff)
    app.command()(render)


@common.handle_errors
@common.with_load_options
def diff(
    a: ModelA,
    b: ModelB,
    json: JsonOpt = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when the models differ.")] = False,
    render_file: Annotated[
        Path | None, typer.Option("--render", help="Also draw the diff (svg, png, pdf or dot by suffix).")
    ] = None,
    renames: Annotated[bool, typer.Option("--renames", help="List the nodes matched under new names.")] = False,
    atol: Annotated[
        float, typer.Option("--atol", help="Weight values this close count as unchanged.", min=0.0)
    ] = 0.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing diagram files.")] = False,
    html: viewers.HtmlOpt = None,
    tensorboard: viewers.TensorBoardOpt = None,
    input_a: Annotated[
        list[str] | None, typer.Option("--input-a", help="An input spec for A only (as --input); repeatable.")
    ] = None,
    input_b: Annotated[
        list[str] | None, typer.Option("--input-b", help="An input spec for B only (as --input); repeatable.")
    ] = None,
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
) -> None:
    """Compare two models in any formats: nodes added, removed and changed, weights, signature, opset.

    --input applies to both models; --input-a and --input-b replace it for one side."""
    from dataclasses import replace

    from converter import api

    options = options or LoadOptions()
    options_a = replace(options, input_specs=tuple(input_a)) if input_a else options
    options_b = replace(options, input_specs=tuple(input_b)) if input_b else options
    result = api.diff(a, b, options_a, atol=atol, render_to=render_file, force=force, html=html,
                      tensorboard=tensorboard, options_b=options_b, progress=None if json else _progress)
    if json:
        common.print_json(result.to_dict(renames=renames))
    else:
        _print_diff(a, b, result.diff, renames)
        if result.written is not None:
            _print_written(result.written)
        viewers.print_views(result.views)
    raise typer.Exit(1 if exit_code and not result else 0)


@common.handle_errors
@common.with_load_options
def render(
    model: ModelArg,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Diagram file; default: graphviz_out/.")] = (
        None
    ),
    fmt: Annotated[
        str | None, typer.Option("--format", help="svg, png, pdf, dot, html or tensorboard (-o: a log dir); "
                                 "default: -o's suffix.")
    ] = None,
    depth: Annotated[int | None, typer.Option("--depth", help="Collapse scopes deeper than N.", min=0)] = None,
    expand: Annotated[list[str] | None, typer.Option("--expand", help="Open this scope; repeatable.")] = None,
    focus: Annotated[str | None, typer.Option("--focus", help="Draw only this node's neighbourhood.")] = None,
    radius: Annotated[int, typer.Option("--radius", help="Edges around --focus to draw.", min=0)] = 2,
    max_nodes: Annotated[
        int, typer.Option("--max-nodes", help="Collapse bigger graphs to about this many boxes; 0: never.", min=0)
    ] = 300,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing diagram files.")] = False,
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
    json: JsonOpt = False,
) -> None:
    """Draw MODEL with Graphviz: ops clustered by scope, big graphs collapsed to stay legible."""
    from converter import api

    result = api.render(model, output, options, fmt=fmt, depth=depth, expand=expand or (), focus=focus,
                        radius=radius, max_nodes=max_nodes, force=force, progress=None if json else _progress)
    if json:
        common.print_json(result.to_dict())
        return
    if not hasattr(result, "rendering"):  # an HTML report or a TensorBoard run
        viewers.print_views([result])
        return
    rendering = result.rendering
    if not common.settings.quiet:
        common.out.print(escape(f"{model}: {rendering.nodes} nodes (ops), {rendering.items} drawn "
                                f"({rendering.boxes} collapsed boxes)"))
    for note in rendering.notes:
        common.out.print(f"[yellow]note:[/yellow] {escape(note)}")
    _print_written(result.written)


def _progress(line: str) -> None:
    if not common.settings.quiet:
        common.err.print(f"{line} …", markup=False)


def _print_written(written) -> None:
    for note in written.notes:
        common.out.print(f"[yellow]note:[/yellow] {escape(note)}")
    common.out.print(f"wrote {escape(str(written.path))}")


def _print_diff(a: str, b: str, result, renames: bool) -> None:
    out = common.out
    if not common.settings.quiet:
        out.print(f"[bold]{escape(a)}[/bold] → [bold]{escape(b)}[/bold]")
    for note in result.notes:
        out.print(f"[yellow]note:[/yellow] {escape(note)}")
    scope = None
    for change in result.changes:
        if change.element not in ("model", "input", "output") and change.scope != scope:
            scope = change.scope
            out.print(f"[bold cyan]{escape(scope or '(top level)')}[/bold cyan]")
        out.print(_change_line(change))
    if result.precision is not None:
        _print_precision(result.precision)
    if renames:
        for rename in result.renames:
            out.print(escape(f"  = {rename.element} {rename.a.name} ({rename.a.scope or '-'}) → "
                             f"{rename.b.name} ({rename.b.scope or '-'})"))
    out.print(_summary_line(result))


def _print_precision(precision) -> None:
    out = common.out
    out.print(f"[bold cyan]precision[/bold cyan]: {escape(precision.precision_a)} → {escape(precision.precision_b)}")
    for layer in precision.layers:
        names = layer.a if layer.b in (None, layer.a) else f"{layer.a} (now {layer.b})"
        folded = f" (with {', '.join(layer.folded)})" if layer.folded and common.settings.verbose else ""
        out.print(escape(f"  ~ {layer.op_type} {names}: {layer.precision_a} → {layer.precision_b}{folded}"))
    if precision.kept:
        out.print(escape(f"  = kept in {precision.kept_in}: {', '.join(precision.kept)}"))
    if precision.fused:
        out.print(escape(f"  - fused into quantization: {', '.join(precision.fused)}"))
    for weight in sorted(precision.weights, key=lambda w: -w.range_error):
        out.print(escape(f"  ~ weight {weight.a}: {weight.dtype_a} → {weight.dtype_b}, {weight.bytes_a:,} → "
                         f"{weight.bytes_b:,} bytes, max |Δ| {weight.max_abs_error:.3g} "
                         f"({weight.range_error * 100:.2g}% of its range)"))
    out.print(f"[bold]{escape(precision.line())}[/bold]")


def _side(ref) -> str:
    if ref is None:
        return ""
    return f"{ref.op_type} {ref.name}" if ref.op_type else ref.name


def _fields(change) -> str:
    parts = []
    for item in change.fields:
        if item.field == "values" or item.field == "signature":
            parts.append(str(item.new))
        else:
            parts.append(f"{item.field.removeprefix('attr:')}: {item.old} → {item.new}")
    return "; ".join(parts)


def _change_line(change) -> str:
    kind = change.kind
    if change.element == "model":
        return f"[dark_orange]~ {escape(kind.replace('_', ' '))}[/dark_orange]: {escape(_fields(change))}"
    if change.element in ("input", "output"):
        verb = kind.split("_")[1]
        mark, colour = _MARKS[verb]
        ref = change.b or change.a
        detail = _fields(change)
        if kind.endswith("_removed"):
            detail = ""
        text = f"{mark} {change.element} {ref.name}" + (f": {detail}" if detail else "")
        return f"[{colour}]{escape(text)}[/{colour}]"
    mark, colour = _MARKS[kind]
    if kind in ("added", "removed"):
        kind_word = "weight " if change.element == "initializer" else ""
        text = f"  {mark} {kind_word}{_side(change.b or change.a)}"
        if change.weights:
            text += f" (with {', '.join(change.weights)})"
    else:
        label = _WEIGHT_WORDS.get(kind, "")
        names = _side(change.a)
        if change.b is not None and change.b.name != change.a.name:
            names += f" (now {change.b.name})"
        text = f"  {mark} {label}{names}: {_fields(change)}"
    return f"[{colour}]{escape(text)}[/{colour}]"


def _summary_line(result) -> str:
    summary = result.summary
    if result.identical:
        renamed = f", {summary['renamed']} renamed (--renames lists them)" if summary["renamed"] else ""
        return f"[green]identical[/green]: {summary['ops_matched']} nodes (ops) matched{renamed}"
    counts = [
        f"{summary['added']} added", f"{summary['removed']} removed", f"{summary['changed']} changed",
        f"{summary['weights_changed']} weights changed", f"{summary['io_changed']} inputs/outputs changed",
    ]
    if summary["weights_transposed"]:
        counts.append(f"{summary['weights_transposed']} weights transposed")
    if summary["constants_folded"]:
        counts.append(f"{summary['constants_folded']} constants folded")
    if summary["opset_changed"]:
        counts.append("opset changed")
    if summary["metadata_changed"]:
        counts.append("metadata changed")
    return (f"[bold]{', '.join(counts)}[/bold] ({summary['ops_matched']} of {summary['nodes_a']} → "
            f"{summary['nodes_b']} nodes (ops) matched, {summary['renamed']} renamed)")
