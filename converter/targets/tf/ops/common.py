"""Small helpers shared by the handler modules: static values, axes and dtype checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["static", "static_ints", "rank", "normalize_axis", "as_tensor", "is_float"]


def static(value: Any) -> np.ndarray | None:
    """The value as numpy when it is known at trace time (constants, folded shapes), else None."""
    if value is None:
        return None
    if isinstance(value, np.ndarray | np.generic):
        return np.asarray(value)
    if isinstance(value, tf.Variable):
        return None
    return tf.get_static_value(value)


def static_ints(value: Any) -> list[int] | None:
    """A 1-D integer input known at trace time, as a list of ints."""
    known = static(value)
    return None if known is None else [int(v) for v in np.reshape(known, [-1])]


def rank(value: Any) -> int:
    """The static rank of a tensor (TensorFlow traces ONNX graphs with known ranks)."""
    return len(value.shape)


def normalize_axis(axis: int, ndim: int) -> int:
    return axis + ndim if axis < 0 else axis


def as_tensor(value: Any, dtype: Any = None) -> tf.Tensor:
    return tf.convert_to_tensor(value, dtype=dtype)


def is_float(value: Any) -> bool:
    return tf.as_dtype(value.dtype).is_floating
