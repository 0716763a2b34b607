"""What loading takes and returns: LoadOptions in, LoadedModel (with SourceInfo and Attempts) out; no heavy imports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import onnx

__all__ = ["LoadOptions", "LoadedModel", "SourceInfo", "Attempt", "Reference"]

# Runs the source framework on named numpy inputs and returns the outputs in graph-output order.
Reference = Callable[["dict[str, np.ndarray]"], "list[np.ndarray]"]


@dataclass(frozen=True)
class LoadOptions:
    """How to find, trace and normalize a model; the defaults suit most models."""

    input_specs: tuple[str, ...] = ()
    inputs_file: Path | None = None
    source_format: str | None = None
    trace: str = "export"
    opset: int | None = None
    signature: str = "serving_default"
    model_class: str | None = None
    trust_pickle: bool = False
    trust_code: bool = False
    custom_objects: str | None = None  # a .py file or module that defines (registers) Keras custom classes
    timeout: float | None = None  # seconds for loading and tracing
    # False: infer shapes only where a graph output lacks one (inspect shows no intermediate tensor)
    value_shapes: bool = True

    def __post_init__(self) -> None:
        # The CLI and callers hand over lists; a tuple keeps the options hashable.
        object.__setattr__(self, "input_specs", tuple(self.input_specs))


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
