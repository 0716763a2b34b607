"""Mixture-of-experts layers of transformers, captured through their batched form, which keeps every expert."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["batched_experts"]

# grouped_mm (transformers' default) reaches the exporters as an op with no ONNX function; batched_mm runs every
# expert on every token with plain matmuls and gathers, so the capture holds for any routing
_NO_ONNX = "grouped_mm"
_EXPORTABLE = "batched_mm"


@contextlib.contextmanager
def batched_experts(module: Any) -> Iterator[bool]:
    """Switch every transformers model inside `module` from grouped_mm experts to batched_mm while capturing,
    then put back what the user had; yields whether anything was switched."""
    switched = [(model, model.get_experts_implementation()) for model in _models(module)
                if _NO_ONNX in model.get_experts_implementation().values()]
    try:
        for model, before in switched:
            model.set_experts_implementation({key: _EXPORTABLE if value == _NO_ONNX else value
                                              for key, value in before.items()})
        yield bool(switched)
    finally:
        for model, before in reversed(switched):
            model.set_experts_implementation(before)


def _models(module: Any) -> list[Any]:
    """The transformers models in `module` whose experts implementation can be set, outermost first."""
    modules = getattr(module, "modules", None)
    if modules is None:
        return []
    return [m for m in modules() if hasattr(m, "get_experts_implementation")
            and getattr(type(m), "_can_set_experts_implementation", lambda: False)()]
