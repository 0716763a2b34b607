"""ONNX -> TensorFlow: `from_onnx` builds a tf.Module from a ModelProto (TensorFlow imported lazily)."""

from __future__ import annotations

from typing import Any

import onnx

from converter.core.frameworks import require

__all__ = ["from_onnx", "count_transposes", "require_tensorflow"]


def require_tensorflow() -> Any:
    """Import tensorflow (quietly: its C++ start-up logging bypasses Python), or name the extra to install."""
    return require("tensorflow", "tf")


def from_onnx(model: onnx.ModelProto, *, propagate_layout: bool = True) -> Any:
    """A traced tf.Module for `model`; `module(*arrays)` returns {onnx output name: tensor}.

    Inputs keep the ONNX layout (NCHW stays NCHW). With `propagate_layout`, tensors stay
    channels-last between convolutions and are transposed only where an op needs ONNX order.
    """
    require_tensorflow()
    from converter.targets.tf.module import build_module

    return build_module(model, propagate_layout=propagate_layout)


def count_transposes(module: Any) -> int:
    """Transpose ops in a converted module's traced graph."""
    from converter.targets.tf.transposes import count_transposes as count

    return count(module)
