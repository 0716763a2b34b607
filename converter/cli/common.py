"""What every command shares: error handling, output consoles and the model-loading options."""

from __future__ import annotations

import functools
import inspect
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from converter.core.errors import GraphtoolError, plain
from converter.core.types import LoadOptions

__all__ = [
    "Settings", "settings", "handle_errors", "out", "err", "print_json", "JsonOpt", "with_load_options", "version",
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


def version() -> str:
    """graphtool's version: the installed distribution's, else the package's own."""
    from importlib import metadata

    try:
        return metadata.version("graphtool")
    except metadata.PackageNotFoundError:
        from converter import __version__

        return __version__


def print_json(document: Any) -> None:
    """Print exactly one JSON document on stdout, with graphtool's version in it."""
    if isinstance(document, dict):
        document = {"version": version(), **document}
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]

# Each LoadOptions field and its command-line option, in the order --help lists them; defaults come from LoadOptions.
_LOAD_OPTIONS: dict[str, Any] = {
    "input_specs": Annotated[
        list[str] | None,
        typer.Option("--input", help="NAME:DIMS[:DTYPE], e.g. x:batch,3,224,224:float32; repeatable."),
    ],
    "inputs_file": Annotated[Path | None, typer.Option("--inputs", help="An .npz file of real input data.")],
    "source_format": Annotated[
        str | None, typer.Option("--from", help="Source format, when detection should be overridden.")
    ],
    "trace": Annotated[str, typer.Option("--trace", help="PyTorch capture: export, torchscript, fx or auto.")],
    "opset": Annotated[int | None, typer.Option("--opset", help="Target ONNX opset of the normalized model.")],
    "signature": Annotated[str, typer.Option("--signature", help="SavedModel signature to load.")],
    "model_class": Annotated[
        str | None, typer.Option("--model-class", help="file.py:Class or package.module:Class for a state_dict.")
    ],
    "trust_pickle": Annotated[
        bool, typer.Option("--trust-pickle", help="Allow full unpickling (runs code from the file).")
    ],
    "trust_code": Annotated[
        bool, typer.Option("--trust-code", help="Allow models that carry code: Keras Lambda layers, graph ops beyond "
                           "pure computation (files, printing to files, custom ops; see `graphtool audit`).")
    ],
    "custom_objects": Annotated[
        str | None, typer.Option("--custom-objects", help="file.py or a module defining the Keras model's custom "
                                 "classes; imported (runs) only with --trust-code.")
    ],
    "timeout": Annotated[
        float | None, typer.Option("--timeout", min=0.1, help="Give up loading and tracing after this many seconds.")
    ],
}


def with_load_options(command: F) -> F:
    """Give a command the shared model-loading options; it receives them as one `options: LoadOptions`."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "options"]
    defaults = {f.name: f.default for f in fields(LoadOptions)}
    # An empty tuple is LoadOptions' "none given"; Typer's is None.
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                default=None if defaults[name] == () else defaults[name])
              for name, annotation in _LOAD_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in _LOAD_OPTIONS}
        options = LoadOptions(**{name: value for name, value in given.items() if value is not None})
        return command(*args, options=options, **kwargs)

    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]
