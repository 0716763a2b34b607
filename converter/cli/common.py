"""What every command shares: error handling, output consoles and the model-loading options."""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from converter.errors import GraphtoolError

__all__ = [
    "Settings", "settings", "handle_errors", "out", "err", "print_json", "JsonOpt", "load_options", "with_load_options",
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
    """Turn user errors into one line on stderr and exit 2; --debug shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except GraphtoolError as error:
            if settings.debug:
                raise
            err.print(f"graphtool: error: {error}", markup=False)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            err.print("graphtool: interrupted", markup=False)
            raise typer.Exit(130) from None
        except Exception as error:  # a bug or an unforeseen input: still one line unless --debug
            if settings.debug:
                raise
            err.print(
                f"graphtool: error: unexpected {type(error).__name__}: {error} (rerun with --debug for details)",
                markup=False,
            )
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def print_json(document: Any) -> None:
    """Print exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


InputOpt = Annotated[
    list[str] | None,
    typer.Option("--input", help="NAME:DIMS[:DTYPE], e.g. x:batch,3,224,224:float32; repeatable."),
]
InputsOpt = Annotated[Path | None, typer.Option("--inputs", help="An .npz file of real input data.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Source format, when detection should be overridden.")]
TraceOpt = Annotated[str, typer.Option("--trace", help="PyTorch capture: export, torchscript, fx or auto.")]
OpsetOpt = Annotated[int | None, typer.Option("--opset", help="Target ONNX opset of the normalized model.")]
SignatureOpt = Annotated[str, typer.Option("--signature", help="SavedModel signature to load.")]
ModelClassOpt = Annotated[
    str | None, typer.Option("--model-class", help="file.py:Class or package.module:Class for a state_dict.")
]
TrustPickleOpt = Annotated[
    bool, typer.Option("--trust-pickle", help="Allow full unpickling (runs code from the file).")
]
TrustCodeOpt = Annotated[
    bool, typer.Option("--trust-code", help="Allow Keras models that carry Python code (Lambda layers).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", min=0.1, help="Give up loading and tracing after this many seconds.")
]


# The options every command that loads a model takes, in the order --help lists them.
_LOAD_PARAMETERS = (
    ("input", InputOpt, None),
    ("inputs", InputsOpt, None),
    ("source_format", FromOpt, None),
    ("trace", TraceOpt, "export"),
    ("opset", OpsetOpt, None),
    ("signature", SignatureOpt, "serving_default"),
    ("model_class", ModelClassOpt, None),
    ("trust_pickle", TrustPickleOpt, False),
    ("trust_code", TrustCodeOpt, False),
    ("timeout", TimeoutOpt, None),
)


def with_load_options(command: F) -> F:
    """Give a command the shared model-loading options; it receives them as one `options: LoadOptions`."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "options"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
              for name, annotation, default in _LOAD_PARAMETERS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fields = {name: kwargs.pop(name) for name, _, _ in _LOAD_PARAMETERS}
        return command(*args, options=load_options(**fields), **kwargs)

    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]


def load_options(
    *,
    input: list[str] | None = None,
    inputs: Path | None = None,
    source_format: str | None = None,
    trace: str = "export",
    opset: int | None = None,
    signature: str = "serving_default",
    model_class: str | None = None,
    trust_pickle: bool = False,
    trust_code: bool = False,
    timeout: float | None = None,
):
    """Build the API's LoadOptions from the shared command-line options."""
    from converter.options import LoadOptions

    return LoadOptions(
        input_specs=tuple(input or ()),
        inputs_file=inputs,
        source_format=source_format,
        trace=trace,
        opset=opset,
        signature=signature,
        model_class=model_class,
        trust_pickle=trust_pickle,
        trust_code=trust_code,
        timeout=timeout,
    )
