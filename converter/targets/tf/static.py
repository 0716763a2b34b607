"""Small helpers shared by the handler modules: values known at conversion time."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["static", "static_ints"]


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
