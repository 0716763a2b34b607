"""What every command shares: error handling, output consoles and the model-loading options."""

from __future__ import annotations

import functools
import inspect
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from converter.core.errors import GraphtoolError, plain
from converter.core.types import LoadOptions, load_option_specs
from converter.core.version import version

__all__ = [
    "Settings", "settings", "handle_errors", "out", "err", "print_json", "JsonOpt", "with_load_options",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """Global flags, set by the app callback for the command that follows."""

    debug: bool = False
    quiet: bool = False
    verbose: bool = False


settings = Settings()
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def handle_errors(command: F) -> F:
    """Turn errors into one line on stderr and exit 2; --debug first prints the traceback, causes and all."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Each branch ends in typer.Exit, which click turns into the exit code: it has no cause worth showing.
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except GraphtoolError as error:
            _debug_traceback(error)
            err.print(f"graphtool: error: {plain(str(error))}", markup=False)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt as interrupt:
            _debug_traceback(interrupt)
            err.print("graphtool: interrupted", markup=False)
            raise typer.Exit(130) from None
        except Exception as error:  # a bug or an unforeseen input: still one line, and exit 2
            _debug_traceback(error)
            hint = "" if settings.debug else " (rerun with --debug for details)"
            err.print(f"graphtool: error: unexpected {type(error).__name__}: {plain(str(error))}{hint}", markup=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _debug_traceback(error: BaseException) -> None:
    """With --debug, Python's traceback of `error` on stderr: the frameworks' own exceptions it was raised from too."""
    if settings.debug:
        sys.stderr.write("".join(traceback.format_exception(error)))
        sys.stderr.flush()


def print_json(document: Any) -> None:
    """Print exactly one JSON document on stdout, with graphtool's version in it."""
    if isinstance(document, dict):
        document = {"version": version(), **document}
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _load_parameters() -> list[inspect.Parameter]:
    """Each LoadOptions field that has a flag, as a command-line option with the flag, help and least value of
    its metadata, in field order."""
    parameters = []
    for spec in load_option_specs():
        if spec.repeated:  # LoadOptions' "none given" is an empty tuple, Typer's None
            annotation, default = list[spec.kind] | None, None
        else:
            annotation, default = spec.kind | None if spec.default is None else spec.kind, spec.default
        option = typer.Option(spec.flag, help=spec.help, min=spec.min)
        parameters.append(inspect.Parameter(spec.field, inspect.Parameter.KEYWORD_ONLY,
                                            annotation=Annotated[annotation, option], default=default))
    return parameters


def with_load_options(command: F) -> F:
    """Give a command the shared model-loading options; it receives them as one `options: LoadOptions`."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "options"]
    shared = _load_parameters()

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {p.name: kwargs.pop(p.name) for p in shared}
        options = LoadOptions(**{name: value for name, value in given.items() if value is not None})
        return command(*args, options=options, **kwargs)

    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]
