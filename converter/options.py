"""How to find, trace and normalize a model: the options every loading command shares (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoadOptions"]


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
    timeout: float | None = None  # seconds for loading and tracing
