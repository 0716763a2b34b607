"""What every source loader returns: the normalized model and what is known about its origin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx

from converter.options import LoadOptions

__all__ = ["LoadOptions", "LoadedModel", "SourceInfo", "Attempt", "Reference"]

# Runs the source framework on named numpy inputs and returns the outputs in graph-output order.
Reference = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


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
