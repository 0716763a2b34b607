"""Pooling (Max, Average, Lp, and their Global forms), computed channels-last."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from converter.targets.tf.layout import channels_last
from converter.targets.tf.node import Node
from converter.targets.tf.ops.padding import explicit_pads
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _window(node: Node, x):
    n = len(x.shape) - 2
    kernel = node.attr("kernel_shape")
    strides = node.attr("strides", [1] * n)
    dilations = node.attr("dilations", [1] * n)
    ceil = bool(node.attr("ceil_mode", 0))
    pads = explicit_pads(node, list(x.shape[1:-1]), kernel, strides, dilations, ceil)
    return kernel, strides, dilations, pads


def _pool(x, kernel, strides, dilations, kind: str):
    if max(dilations) == 1:
        return tf.nn.pool(x, kernel, kind, strides=strides, padding="VALID")
    y = tf.nn.pool(x, kernel, kind, strides=[1] * len(kernel), padding="VALID", dilations=dilations)
    return y[(slice(None), *[slice(None, None, s) for s in strides], slice(None))]


@tf_ops.register("MaxPool")
@channels_last
def max_pool(node: Node, x):
    if node.output_used(1):
        raise node.unsupported("the Indices output is not supported")
    kernel, strides, dilations, pads = _window(node, x)
    if any(p != (0, 0) for p in pads):
        low = x.dtype.min if x.dtype.is_integer else -np.inf
        x = tf.pad(x, [(0, 0), *pads, (0, 0)], constant_values=tf.cast(low, x.dtype))
    if x.dtype.is_integer:
        return tf.cast(_pool(tf.cast(x, tf.float64), kernel, strides, dilations, "MAX"), x.dtype)
    return _pool(x, kernel, strides, dilations, "MAX")


@tf_ops.register("AveragePool")
@channels_last
def average_pool(node: Node, x):
    kernel, strides, dilations, pads = _window(node, x)
    if all(p == (0, 0) for p in pads):
        return _pool(x, kernel, strides, dilations, "AVG")
    window = float(np.prod(kernel))
    padded = tf.pad(x, [(0, 0), *pads, (0, 0)])
    total = _pool(padded, kernel, strides, dilations, "AVG") * window
    return total / _counts(node, x, kernel, strides, dilations, pads, window)


def _counts(node: Node, x, kernel, strides, dilations, pads, window):
    """How many elements each window averages: padding counts only with count_include_pad."""
    spatial = [int(d) for d in x.shape[1:-1]]
    ones = np.ones([1, *spatial, 1], np.float32)
    if node.attr("count_include_pad", 0):
        raw = node.attr("pads", [0] * (2 * len(spatial)))
        n = len(spatial)
        given = [(raw[i], raw[i + n]) for i in range(n)] if node.attr("auto_pad", "NOTSET") == "NOTSET" else pads
        ones = np.pad(ones, [(0, 0), *given, (0, 0)], constant_values=1.0)
        extra = [(b - g0, e - g1) for (b, e), (g0, g1) in zip(pads, given, strict=True)]
        ones = np.pad(ones, [(0, 0), *extra, (0, 0)])
    else:
        ones = np.pad(ones, [(0, 0), *pads, (0, 0)])
    counts = _pool(tf.constant(ones), kernel, strides, dilations, "AVG") * window
    return tf.cast(counts, x.dtype)


@tf_ops.register("LpPool")
@channels_last
def lp_pool(node: Node, x):
    kernel, strides, dilations, pads = _window(node, x)
    p = float(node.attr("p", 2))
    powered = tf.pad(tf.math.pow(tf.math.abs(x), p), [(0, 0), *pads, (0, 0)])
    total = _pool(powered, kernel, strides, dilations, "AVG") * float(np.prod(kernel))
    return tf.math.pow(total, 1.0 / p)


def _global(op_type: str, reduce) -> None:
    def handler(node: Node, x):
        return reduce(node, x, list(range(1, len(x.shape) - 1)))

    tf_ops.register(op_type)(channels_last(handler))


_global("GlobalAveragePool", lambda node, x, axes: tf.reduce_mean(x, axes, keepdims=True))
_global("GlobalMaxPool", lambda node, x, axes: tf.reduce_max(x, axes, keepdims=True))
_global(
    "GlobalLpPool",
    lambda node, x, axes: tf.math.pow(
        tf.reduce_sum(tf.math.pow(tf.math.abs(x), float(node.attr("p", 2))), axes, keepdims=True),
        1.0 / float(node.attr("p", 2)),
    ),
)
