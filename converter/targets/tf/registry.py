"""The TensorFlow converter's op registry and the explicit list of family modules that fill it."""

from __future__ import annotations

from converter.targets.registry import OpRegistry

__all__ = ["tf_ops", "load_handlers"]

# Every module here registers its handlers in `tf_ops` when imported; nothing else does.
tf_ops = OpRegistry(
    "tensorflow",
    package="converter.targets.tf.ops",
    modules=(
        "activations", "attention", "control", "conv", "detection", "elementwise", "generators", "indexing",
        "linalg", "loss", "norm", "padding", "pool", "quantize", "reduce", "resize", "rnn", "sampling",
        "shape", "strings",
    ),
)


def load_handlers() -> OpRegistry:
    """Import every handler module once and return the filled registry."""
    return tf_ops.load()
