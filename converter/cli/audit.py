"""The `audit` command: what a model's graph does besides computing, found without running any of it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from converter.cli import common
from converter.cli.common import JsonOpt
from converter.core.types import LoadOptions

__all__ = ["register", "print_audit"]

ModelArg = Annotated[str, typer.Argument(help="A SavedModel directory, TorchScript archive, .pt2 or .onnx file.")]


def register(app: typer.Typer) -> None:
    """Add the audit command to the app."""
    app.command()(audit)


@common.handle_errors
@common.with_load_options
def audit(
    model: ModelArg,
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
    json: JsonOpt = False,
) -> None:
    """List every op in MODEL's graph that is not pure computation (files, printing, queues, custom ops)."""
    from converter import api

    result = api.audit(model, options)
    if json:
        common.print_json(result.to_dict())
    else:
        print_audit(result)
    raise typer.Exit(0 if result else 1)


def print_audit(result) -> None:
    """The audit as people read it: what was walked, then each finding and notice on its own line."""
    nodes = sum(result.op_counts.values())
    verdict = "only pure computation" if result else f"{len(result.findings)} op(s) beyond pure computation"
    common.out.print(escape(f"{result.path}: {result.format}, {result.functions} function(s), {nodes} nodes: "
                            f"{verdict}"))
    for finding in result.findings:
        common.out.print(escape(f"  refused: {finding.describe()}"))
    for notice in result.notices:
        common.out.print(escape(f"  allowed: {notice.describe()}; converted models drop it"))
    if result.op_counts:
        common.out.print(escape("ops: " + ", ".join(f"{op} {n}" for op, n in result.op_counts.items())))
