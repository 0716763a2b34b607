"""The `graphtool` command line: a thin layer over converter.api."""

from __future__ import annotations

from typing import Annotated

import typer

from converter.cli import common
from converter.core.version import version

__all__ = ["app", "main"]

app = typer.Typer(
    name="graphtool",
    help="Convert models between PyTorch and TensorFlow through ONNX, diff and render their graphs, "
    "and prove them unchanged.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"graphtool {version()}")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print more detail, and the frameworks' own logging.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print graphtool's version and exit.", callback=_print_version,
                           is_eager=True)
    ] = False,
) -> None:
    from converter.core.frameworks import quiet_environment, set_verbose

    common.settings.debug = debug
    common.settings.quiet = quiet
    common.settings.verbose = verbose
    set_verbose(verbose)
    quiet_environment()  # before any command can import TensorFlow


def _register_commands() -> None:
    # An explicit list: each module adds its commands to `app`.
    from converter.cli import audit, batch, bench, deploy, graphs, models, validate, viewers

    for module in (models, validate, graphs, viewers, deploy, batch, bench, audit):
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    from converter.core.deadline import terminate_as_interrupt

    terminate_as_interrupt()
    app(prog_name="graphtool")
