"""Pooling (Max, Average, Lp, their Global forms) and MaxUnpool, computed channels-last."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from converter.targets.tf.layout import CHANNELS_LAST
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
    if max(dilations) == 1 and all(s <= k for s, k in zip(strides, kernel, strict=True)):
        return tf.nn.pool(x, kernel, kind, strides=strides, padding="VALID")
    # TensorFlow refuses dilation with strides, and strides beyond the window: pool densely, then subsample.
    y = tf.nn.pool(x, kernel, kind, strides=[1] * len(kernel), padding="VALID", dilations=dilations)
    return y[(slice(None), *[slice(None, None, s) for s in strides], slice(None))]


def _covers_input(x, kernel, strides, dilations, pads) -> bool:
    """One window over the whole input on every spatial axis (a ceil-mode kernel larger than the input).

    Padding the input to such a kernel could allocate far more than the input (EfficientNet's
    AvgPool2d(2560, ceil_mode=True) on a 2x2 map): a reduction over the spatial axes computes the same.
    """
    spatial = x.shape.as_list()[1:-1]
    if None in spatial or max(dilations) > 1:
        return False
    return all(
        k >= begin + d and (d + begin + end - k) // s + 1 == 1
        for d, k, s, (begin, end) in zip(spatial, kernel, strides, pads, strict=True)
    )


@tf_ops.register("MaxPool", layout=CHANNELS_LAST)
def max_pool(node: Node, x):
    kernel, strides, dilations, pads = _window(node, x)
    if node.output_used(1):
        return _max_pool_with_indices(node, x, kernel, strides, dilations, pads)
    if _covers_input(x, kernel, strides, dilations, pads):
        return tf.reduce_max(x, list(range(1, len(x.shape) - 1)), keepdims=True)
    if any(p != (0, 0) for p in pads):
        low = x.dtype.min if x.dtype.is_integer else -np.inf
        x = tf.pad(x, [(0, 0), *pads, (0, 0)], constant_values=tf.cast(low, x.dtype))
    if x.dtype.is_integer:
        return tf.cast(_pool(tf.cast(x, tf.float64), kernel, strides, dilations, "MAX"), x.dtype)
    return _pool(x, kernel, strides, dilations, "MAX")


def _max_pool_with_indices(node: Node, x, kernel, strides, dilations, pads):
    """Values (channels-last) and ONNX flat indices (N, C, H, W order) of a 2-D max pool."""
    if len(kernel) != 2 or max(dilations) > 1 or None in x.shape.as_list()[1:]:
        raise node.unsupported("the Indices output needs a 2-D pool without dilation and static shapes")
    _, height, width, channels = x.shape.as_list()
    padded = tf.pad(x, [(0, 0), *pads, (0, 0)], constant_values=tf.cast(-np.inf, x.dtype))
    values, flat = tf.nn.max_pool_with_argmax(
        padded, [1, *kernel, 1], [1, *strides, 1], "VALID", include_batch_in_index=True
    )
    padded_w, padded_h = width + pads[1][0] + pads[1][1], height + pads[0][0] + pads[0][1]
    c = flat % channels
    position = flat // channels
    col = position % padded_w - pads[1][0]
    row = (position // padded_w) % padded_h - pads[0][0]
    n = position // (padded_w * padded_h)
    plane = n * channels + c
    if node.attr("storage_order", 0):
        index = plane * height * width + col * height + row
    else:
        index = (plane * height + row) * width + col
    return values, tf.transpose(tf.cast(index, tf.int64), [0, 3, 1, 2])


@tf_ops.register("MaxUnpool", since=11)
def max_unpool(node: Node, x, indices, output_shape=None):
    x = tf.convert_to_tensor(x)
    n = len(x.shape) - 2
    if output_shape is None:
        kernel, strides = node.attr("kernel_shape"), node.attr("strides", [1] * n)
        raw = node.attr("pads", [0] * (2 * n))
        spatial = [(x.shape[2 + i] - 1) * strides[i] - raw[i] - raw[i + n] + kernel[i] for i in range(n)]
        output_shape = tf.concat([tf.shape(x, out_type=tf.int64)[:2], tf.constant(spatial, tf.int64)], 0)
    output_shape = tf.cast(output_shape, tf.int64)
    flat = tf.scatter_nd(
        tf.reshape(tf.cast(indices, tf.int64), [-1, 1]), tf.reshape(x, [-1]), [tf.reduce_prod(output_shape)]
    )
    return tf.reshape(flat, output_shape)


@tf_ops.register("AveragePool", layout=CHANNELS_LAST)
def average_pool(node: Node, x):
    kernel, strides, dilations, pads = _window(node, x)
    if all(p == (0, 0) for p in pads):
        return _pool(x, kernel, strides, dilations, "AVG")
    counts_pads = node.attr("count_include_pad", 0) and any(node.attr("pads", [0]))
    if not counts_pads and _covers_input(x, kernel, strides, dilations, pads):
        return tf.reduce_mean(x, list(range(1, len(x.shape) - 1)), keepdims=True)
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


@tf_ops.register("LpPool", layout=CHANNELS_LAST)
def lp_pool(node: Node, x):
    kernel, strides, dilations, pads = _window(node, x)
    p = float(node.attr("p", 2))
    powered = tf.pad(tf.math.pow(tf.math.abs(x), p), [(0, 0), *pads, (0, 0)])
    total = _pool(powered, kernel, strides, dilations, "AVG") * float(np.prod(kernel))
    return tf.math.pow(total, 1.0 / p)


def _global(op_type: str, reduce) -> None:
    def handler(node: Node, x):
        return reduce(node, x, list(range(1, len(x.shape) - 1)))

    tf_ops.register(op_type, layout=CHANNELS_LAST)(handler)


_global("GlobalAveragePool", lambda node, x, axes: tf.reduce_mean(x, axes, keepdims=True))
_global("GlobalMaxPool", lambda node, x, axes: tf.reduce_max(x, axes, keepdims=True))
_global(
    "GlobalLpPool",
    lambda node, x, axes: tf.math.pow(
        tf.reduce_sum(tf.math.pow(tf.math.abs(x), float(node.attr("p", 2))), axes, keepdims=True),
        1.0 / float(node.attr("p", 2)),
    ),
)
