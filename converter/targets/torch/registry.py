"""The PyTorch converter's op registry and the explicit list of family modules that fill it."""

from __future__ import annotations

from converter.targets.registry import OpRegistry

__all__ = ["torch_ops", "load_handlers"]

# Every module here registers its handlers in `torch_ops` when imported; nothing else does.
torch_ops = OpRegistry(
    "torch",
    package="converter.targets.torch.ops",
    modules=(
        "activations", "control", "conv", "detection", "elementwise", "generators", "indexing", "linalg",
        "norm", "pool", "quantize", "reduce", "resize", "rnn", "sampling", "sequence", "shape",
    ),
)


def load_handlers() -> OpRegistry:
    """Import every handler module once and return the filled registry."""
    return torch_ops.load()
