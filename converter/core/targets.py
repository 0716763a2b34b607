"""The names of the formats `convert` writes, for the layers that must not load the writers (CLI, manifests)."""

from __future__ import annotations

__all__ = ["TARGET_NAMES"]

# converter.targets.artifacts.TARGETS has a writer and a runner for each, in this order, and checks that it does.
TARGET_NAMES = ("onnx", "savedmodel", "tflite", "pt2", "torchscript")
