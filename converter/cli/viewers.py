"""The view command (Model Explorer), and the viewer options and lines of render, diff and validate."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from converter.cli import common
from converter.core.types import LoadOptions

__all__ = ["register", "HtmlOpt", "TensorBoardOpt", "print_views"]

HtmlOpt = Annotated[
    Path | None, typer.Option("--html", help="Also write a self-contained HTML report (opens offline).")
]
TensorBoardOpt = Annotated[
    Path | None, typer.Option("--tensorboard", help="Also write TensorBoard runs into this log dir.")
]


def register(app: typer.Typer) -> None:
    """Add the view command to the app."""
    app.command()(view)


@common.handle_errors
@common.with_load_options
def view(
    model: Annotated[str, typer.Argument(help="A model file, SavedModel directory, or file.py:NAME reference.")],
    against: Annotated[
        str | None, typer.Option("--against", help="Show this model beside MODEL, coloured by the diff.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="A `validate --locate --report` JSON: overlay per-node error.")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1; 0 picks a free one.", min=0)] = 0,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
) -> None:
    """Open MODEL in Google's Model Explorer on 127.0.0.1, with diff and validation-error overlays."""
    from converter import api

    def announce(url: str) -> None:
        common.out.print(f"Model Explorer: {escape(url)} (Ctrl+C stops it)")

    api.view(model, against, report, options, port=port, open_browser=not no_browser, on_ready=announce)


def print_views(views: Iterable[Any]) -> None:
    """One line per written viewer output."""
    for written in views:
        what = "TensorBoard run" if written.viewer == "tensorboard" else "HTML report"
        common.out.print(f"wrote {what} {escape(str(written.path))}")

