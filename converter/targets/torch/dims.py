"""Shape values kept as sizes (`x.size(i)`), not tensors, so torch.export sees Shape -> Reshape chains as dynamic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

__all__ = ["Dims", "dims_tensor", "materialize"]


@dataclass(frozen=True)
class Dims:
    """A 1-D (or, with `scalar`, 0-d) int64 tensor whose items are ints or FX proxies of sizes."""

    items: tuple[Any, ...]
    scalar: bool = False
    source: Any = None  # the tensor (proxy) measured, whose device the materialized tensor takes

    @property
    def known(self) -> bool:
        return not any(isinstance(i, torch.fx.Proxy) for i in self.items)

    def as_list(self) -> list[Any]:
        return list(self.items)


def dims_tensor(items: list[Any], scalar: bool, like: torch.Tensor | None = None) -> torch.Tensor:
    """The int64 tensor of a Dims value (called by the module where a real tensor is needed)."""
    device = like.device if like is not None else None
    tensor = torch.tensor([int(i) for i in items], dtype=torch.int64, device=device)
    return tensor.reshape(()) if scalar else tensor


def materialize(value: Any) -> Any:
    """A Dims value as a tensor (now when every item is known, else an FX call); anything else unchanged."""
    if not isinstance(value, Dims):
        return value
    if value.known:
        return dims_tensor(value.as_list(), value.scalar)
    proxy = next(i for i in value.items if isinstance(i, torch.fx.Proxy))
    args = (value.as_list(), value.scalar, value.source)
    return proxy.tracer.create_proxy("call_function", dims_tensor, args, {})
