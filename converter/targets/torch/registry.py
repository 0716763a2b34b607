"""The PyTorch converter's op registry and the explicit list of modules that fill it."""

from __future__ import annotations

import importlib

from converter.targets.registry import OpRegistry

__all__ = ["torch_ops", "HANDLER_MODULES", "load_handlers"]

torch_ops = OpRegistry("torch")

# Every module here registers its handlers in `torch_ops` when imported; nothing else does.
HANDLER_MODULES = (
    "elementwise",
    "activations",
    "linalg",
    "conv",
    "pool",
    "norm",
    "shape",
    "indexing",
    "generators",
    "reduce",
    "resize",
    "rnn",
    "control",
    "detection",
    "quantize",
    "sequence",
)


def load_handlers() -> OpRegistry:
    """Import every handler module once and return the filled registry."""
    for name in HANDLER_MODULES:
        importlib.import_module(f"converter.targets.torch.ops.{name}")
    return torch_ops
