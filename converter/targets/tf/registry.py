"""The TensorFlow converter's op registry and the explicit list of modules that fill it."""

from __future__ import annotations

import importlib

from converter.targets.registry import OpRegistry

__all__ = ["tf_ops", "HANDLER_MODULES", "load_handlers"]

tf_ops = OpRegistry("tensorflow")

# Every module here registers its handlers in `tf_ops` when imported; nothing else does.
HANDLER_MODULES = (
    "elementwise",
    "attention",
    "sequence_models",
    "loss",
    "activations",
    "linalg",
    "quantize",
    "conv",
    "pool",
    "norm",
    "shape",
    "slicing",
    "gather",
    "reduce",
    "generators",
    "cast",
    "resize",
    "sampling",
    "detection",
    "rnn",
    "control",
    "misc",
    "strings",
)


def load_handlers() -> OpRegistry:
    """Import every handler module once and return the filled registry."""
    for name in HANDLER_MODULES:
        importlib.import_module(f"converter.targets.tf.ops.{name}")
    return tf_ops
