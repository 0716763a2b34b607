"""What loading takes and returns: LoadOptions in, LoadedModel (with SourceInfo and Attempts) out; no heavy imports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin, get_type_hints

if TYPE_CHECKING:
    import numpy as np
    import onnx

__all__ = [
    "LoadOptions", "LoadOption", "load_option_specs", "TRACES", "LoadedModel", "SourceInfo", "Attempt", "Reference",
]

# Runs the source framework on named numpy inputs and returns the outputs in graph-output order.
Reference = Callable[["dict[str, np.ndarray]"], "list[np.ndarray]"]


TRACES = ("export", "torchscript", "fx", "auto")  # how a PyTorch model is captured; auto tries the first three


def _flag(flag: str, help: str, *, min: float | None = None, choices: tuple[str, ...] = ()) -> dict[str, Any]:
    """A field's metadata: the CLI's flag and help, the least value and the allowed values."""
    return {"flag": flag, "help": help, "min": min, "choices": choices}


@dataclass(frozen=True)
class LoadOptions:
    """How to find, trace and normalize a model; the defaults suit most models.

    A field with a flag in its metadata is one users set: the CLI's loading options and a batch manifest's are
    made from these fields (see load_option_specs), in this order.
    """

    input_specs: tuple[str, ...] = field(default=(), metadata=_flag(
        "--input", "NAME:DIMS[:DTYPE], e.g. x:batch,3,224,224:float32; repeatable."))
    inputs_file: Path | None = field(default=None, metadata=_flag("--inputs", "An .npz file of real input data."))
    source_format: str | None = field(default=None, metadata=_flag(
        "--from", "Source format, when detection should be overridden."))
    trace: str = field(default="export", metadata=_flag(
        "--trace", f"PyTorch capture: {', '.join(TRACES[:-1])} or {TRACES[-1]}.", choices=TRACES))
    opset: int | None = field(default=None, metadata=_flag("--opset", "Target ONNX opset of the normalized model."))
    signature: str = field(default="serving_default", metadata=_flag("--signature", "SavedModel signature to load."))
    model_class: str | None = field(default=None, metadata=_flag(
        "--model-class", "file.py:Class or package.module:Class for a state_dict."))
    trust_pickle: bool = field(default=False, metadata=_flag(
        "--trust-pickle", "Allow full unpickling (runs code from the file)."))
    trust_code: bool = field(default=False, metadata=_flag(
        "--trust-code", "Allow models that carry code: Keras Lambda layers, graph ops beyond pure computation "
        "(files, printing to files, custom ops; see `graphtool audit`)."))
    custom_objects: str | None = field(default=None, metadata=_flag(
        "--custom-objects", "file.py or a module defining the Keras model's custom classes; imported (runs) only "
        "with --trust-code."))
    timeout: float | None = field(default=None, metadata=_flag(
        "--timeout", "Give up loading and tracing after this many seconds.", min=0.1))
    static: bool = field(default=False, metadata=_flag(
        "--static", "Fix every dim at the size of the data it is traced with; by default the batch dim (and the "
        "sequence dim of integer token inputs) of --inputs data stays dynamic."))
    # False: infer shapes only where a graph output lacks one (inspect shows no intermediate tensor)
    value_shapes: bool = True

    def __post_init__(self) -> None:
        # The CLI and callers hand over lists and strings; a tuple keeps the options hashable.
        object.__setattr__(self, "input_specs", tuple(self.input_specs))
        if isinstance(self.inputs_file, str):
            object.__setattr__(self, "inputs_file", Path(self.inputs_file))

    @classmethod
    def from_keys(cls, values: Mapping[str, Any]) -> LoadOptions:
        """The options named as a batch manifest names them ({'from': 'onnx', 'inputs': 'data.npz'}); names that
        are no loading option (a manifest's validation settings) are not taken."""
        specs = {spec.key: spec.field for spec in load_option_specs()}
        return cls(**{specs[key]: value for key, value in values.items() if key in specs})

    def to_keys(self) -> dict[str, Any]:
        """The options set away from their defaults, named and typed as from_keys takes them (JSON-ready)."""
        keys = {}
        for spec in load_option_specs():
            value = getattr(self, spec.field)
            if value != spec.default:
                keys[spec.key] = list(value) if isinstance(value, tuple) else str(value) if isinstance(value, Path) \
                    else value
        return keys


@dataclass(frozen=True)
class LoadOption:
    """A LoadOptions field users set: its flag, help and limits, and the type of one value."""

    field: str
    flag: str
    help: str
    kind: type  # str, int, float, bool or Path
    default: Any
    repeated: bool = False  # given once per value (--input): the field holds a tuple of `kind`
    min: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Its name in a batch manifest: the flag without dashes, '-' as '_' (--model-class: model_class)."""
        return self.flag.removeprefix("--").replace("-", "_")


def load_option_specs() -> tuple[LoadOption, ...]:
    """LoadOptions' fields that have a flag, in field order: the CLI's loading options and a manifest's."""
    hints = get_type_hints(LoadOptions)
    specs = []
    for item in fields(LoadOptions):
        if "flag" not in item.metadata:
            continue
        hint = hints[item.name]
        kinds = [kind for kind in get_args(hint) if kind not in (type(None), Ellipsis)] or [hint]
        specs.append(LoadOption(item.name, item.metadata["flag"], item.metadata["help"], kinds[0], item.default,
                                get_origin(hint) is tuple, item.metadata["min"], item.metadata["choices"]))
    return tuple(specs)


@dataclass(frozen=True)
class Attempt:
    """One capture strategy tried on a model, and why it failed (None when it succeeded)."""

    strategy: str
    error: str | None = None

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "ok": self.error is None, "error": self.error}


@dataclass(frozen=True)
class SourceInfo:
    """Where a model came from and how it was captured."""

    path: str
    format: str
    framework: str
    strategy: str | None = None
    attempts: tuple[Attempt, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "framework": self.framework,
            "strategy": self.strategy,
            "attempts": [attempt.to_dict() for attempt in self.attempts],
            "notes": list(self.notes),
        }


@dataclass
class LoadedModel:
    """A normalized ONNX model plus the inputs it was traced with and a way to run its source."""

    model: onnx.ModelProto
    source: SourceInfo
    example_inputs: dict[str, np.ndarray] = field(default_factory=dict)
    reference: Reference | None = None
    weights_dir: Path | None = None  # where external initializers live (models over the external-data threshold)
