"""Reductions (ReduceSum, ReduceMean, ... with axes as attribute or input) and CumSum/CumProd."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import tensorflow as tf

from converter.targets.tf.layout import axis_layout
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops
from converter.targets.tf.static import static_ints

__all__: list[str] = []

_REDUCERS = {
    "ReduceSum": lambda x, a, k: tf.reduce_sum(x, a, keepdims=k),
    "ReduceMean": lambda x, a, k: tf.reduce_mean(x, a, keepdims=k),
    "ReduceMax": lambda x, a, k: tf.reduce_max(x, a, keepdims=k),
    "ReduceMin": lambda x, a, k: tf.reduce_min(x, a, keepdims=k),
    "ReduceProd": lambda x, a, k: tf.reduce_prod(x, a, keepdims=k),
    "ReduceL1": lambda x, a, k: tf.reduce_sum(tf.math.abs(x), a, keepdims=k),
    "ReduceL2": lambda x, a, k: tf.math.sqrt(tf.reduce_sum(tf.math.square(x), a, keepdims=k)),
    "ReduceLogSum": lambda x, a, k: tf.math.log(tf.reduce_sum(x, a, keepdims=k)),
    "ReduceLogSumExp": lambda x, a, k: tf.math.reduce_logsumexp(x, a, keepdims=k),
    "ReduceSumSquare": lambda x, a, k: tf.reduce_sum(tf.math.square(x), a, keepdims=k),
}
# The opset from which each reduction takes its axes as an input rather than an attribute.
_AXES_INPUT_SINCE = {name: (13 if name == "ReduceSum" else 18) for name in _REDUCERS}


def _reduce(fn, node: Node, x, axes):
    x = tf.convert_to_tensor(x)
    keep = bool(node.attr("keepdims", 1))
    if axes is None or (static_ints(axes) == [] if not isinstance(axes, list) else axes == []):
        if node.attr("noop_with_empty_axes", 0):
            return tf.identity(x)
        axes = None
    elif not isinstance(axes, list) and static_ints(axes) is not None:
        axes = static_ints(axes)
    elif not isinstance(axes, list) and node.attr("noop_with_empty_axes", 0):
        if not keep:
            raise node.unsupported("noop_with_empty_axes without keepdims needs axes known at conversion time")
        raw = tf.reshape(tf.cast(axes, tf.int64), [-1])
        return tf.cond(tf.size(raw) > 0, lambda: fn(x, raw, keep), lambda: tf.identity(x))
    elif not isinstance(axes, list):
        axes = _dynamic_axes(x, axes)
    if x.dtype == tf.bool:
        return tf.cast(fn(tf.cast(x, tf.int32), axes, keep), tf.bool)
    return fn(x, axes, keep)


def _dynamic_axes(x, axes):
    axes = tf.reshape(tf.cast(axes, tf.int64), [-1])
    every = tf.range(len(x.shape), dtype=tf.int64)
    return tf.cond(tf.size(axes) > 0, lambda: axes, lambda: every)


def _stays_channels_last(node: Node, axes: list[int] | None, ndim: int) -> bool:
    """Whether reducing `axes` of channels-last data gives the result channels-last (or, at rank 2, as ONNX has it).

    Without keepdims only spatial axes may go: (N, H, W, C) over H and W is ONNX's (N, C).
    """
    return bool(axes) and (bool(node.attr("keepdims", 1)) or all(a % ndim >= 2 for a in axes))


def _remap_attr(node: Node, args: list, ndim: int, actual):
    axes = node.attr("axes")
    if not _stays_channels_last(node, axes, ndim):
        return None
    return replace(node, attrs={**node.attrs, "axes": [actual(a) for a in axes]}), args


def _remap_input(node: Node, args: list, ndim: int, actual):
    axes = static_ints(args[1]) if len(args) > 1 and args[1] is not None else None
    if not _stays_channels_last(node, axes, ndim):
        return None
    return node, [args[0], np.array([actual(a) for a in axes], np.int64)]


def _register(name: str, fn) -> None:
    tf_ops.register(name, since=1, layout=axis_layout(_remap_attr))(
        lambda node, x: _reduce(fn, node, x, node.attr("axes"))
    )
    tf_ops.register(name, since=_AXES_INPUT_SINCE[name], layout=axis_layout(_remap_input))(
        lambda node, x, axes=None: _reduce(fn, node, x, axes)
    )


for _name, _fn in _REDUCERS.items():
    _register(_name, _fn)


def _cumulative(fn):
    def handler(node: Node, x, axis):
        return fn(
            x, tf.reshape(axis, []), exclusive=bool(node.attr("exclusive", 0)), reverse=bool(node.attr("reverse", 0))
        )

    return handler


tf_ops.register("CumSum", since=11)(_cumulative(tf.math.cumsum))
tf_ops.register("CumProd", since=26)(_cumulative(tf.math.cumprod))
