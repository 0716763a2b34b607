"""Slice, Pad, Trilu and ReverseSequence."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from converter.targets.tf.layout import axis_op
from converter.targets.tf.node import Node
from converter.targets.tf.ops.common import static_ints
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


_INT32 = (-(2**31), 2**31 - 1)


def _slice(node: Node, x, starts, ends, axes=None, steps=None):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    constant = _constant_slice(x, ndim, starts, ends, axes, steps)
    if constant is not None:
        return constant
    starts = tf.reshape(tf.cast(starts, tf.int64), [-1])
    if axes is None:
        axes = tf.range(tf.size(starts, out_type=tf.int64), dtype=tf.int64)
    index = tf.math.floormod(tf.reshape(tf.cast(axes, tf.int64), [-1]), ndim)[:, None]
    steps = tf.ones_like(starts) if steps is None else tf.reshape(tf.cast(steps, tf.int64), [-1])
    shape = tf.shape(x, out_type=tf.int64)
    begin = tf.tensor_scatter_nd_update(tf.zeros([ndim], tf.int64), index, starts)
    end = tf.tensor_scatter_nd_update(shape, index, tf.reshape(tf.cast(ends, tf.int64), [-1]))
    stride = tf.tensor_scatter_nd_update(tf.ones([ndim], tf.int64), index, steps)
    return tf.strided_slice(x, begin, end, stride)


def _constant_slice(x, ndim: int, starts, ends, axes, steps):
    """Bounds known at conversion time: one StridedSlice with constant arguments, as numpy slicing clamps."""
    bounds = [static_ints(v) if v is not None else None for v in (starts, ends, axes, steps)]
    if bounds[0] is None or bounds[1] is None or any(b is None for b, v in zip(bounds[2:], (axes, steps),
                                                                                   strict=True) if v is not None):
        return None
    first, last = bounds[0], bounds[1]
    axes_ = bounds[2] if axes is not None else list(range(len(first)))
    steps_ = bounds[3] if steps is not None else [1] * len(first)
    index = [slice(None)] * ndim
    for start, end, axis, step in zip(first, last, axes_, steps_, strict=True):
        # int32 bounds: TensorFlow packs Python ints as int32, and INT64_MAX/MIN mean "to the end"
        index[axis % ndim] = slice(*(min(max(v, _INT32[0]), _INT32[1]) for v in (start, end, step)))
    return x[tuple(index)]


tf_ops.register("Slice", since=1)(
    lambda node, x: _slice(node, x, np.array(node.attr("starts")), np.array(node.attr("ends")), node.attr("axes"))
)


def _remap_slice(node: Node, args: list, ndim: int, actual):
    """Slice channels-last data: only the axes move (they must be known, or default to the first ones)."""
    args = args + [None] * (5 - len(args))
    starts = static_ints(args[1])
    axes = static_ints(args[3]) if args[3] is not None else (None if starts is None else list(range(len(starts))))
    if axes is None:
        return None
    return node, [args[0], args[1], args[2], np.array([actual(a) for a in axes], np.int64), args[4]]


def _remap_pad(node: Node, args: list, ndim: int, actual):
    """Pad channels-last data: the per-axis pads move with their axes."""
    args = args + [None] * (4 - len(args))
    if args[3] is not None:
        axes = static_ints(args[3])
        return None if axes is None else (node, [*args[:3], np.array([actual(a) for a in axes], np.int64)])
    pads = static_ints(args[1])
    if pads is None:
        return None
    moved = [0] * (2 * ndim)
    for i in range(ndim):
        moved[actual(i)], moved[actual(i) + ndim] = pads[i], pads[i + ndim]
    return node, [args[0], np.array(moved, np.int64), args[2]]


tf_ops.register("Slice", since=10)(axis_op(_remap_slice)(_slice))


def _pad(node: Node, x, pads, value=None, axes=None):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    mode = node.attr("mode", "constant")
    axes = list(range(ndim)) if axes is None else [a % ndim for a in static_ints(axes)]
    known = static_ints(pads)
    if known is not None:
        pairs = np.zeros([ndim, 2], np.int64)
        for i, axis in enumerate(axes):
            pairs[axis] = (known[i], known[i + len(axes)])
    else:
        pads = tf.reshape(tf.cast(pads, tf.int64), [2, len(axes)])
        pairs = tf.tensor_scatter_nd_update(tf.zeros([ndim, 2], tf.int64), [[a] for a in axes], tf.transpose(pads))
    if known is not None and min(known) < 0:
        x = tf.slice(
            x,
            tf.maximum(-pairs[:, 0], 0),
            tf.shape(x, out_type=tf.int64) - tf.maximum(-pairs, 0)[:, 0] - tf.maximum(-pairs, 0)[:, 1],
        )
        pairs = np.maximum(pairs, 0)
    if mode == "constant":
        fill = tf.cast(0 if value is None else tf.reshape(value, []), x.dtype)
        return tf.pad(x, pairs, constant_values=fill)
    if mode == "reflect":
        return tf.pad(x, pairs, mode="REFLECT")
    if mode in ("edge", "wrap"):
        for axis in axes:
            size = tf.shape(x, out_type=tf.int64)[axis]
            index = tf.range(-pairs[axis, 0], size + pairs[axis, 1])
            index = tf.clip_by_value(index, 0, size - 1) if mode == "edge" else tf.math.floormod(index, size)
            x = tf.gather(x, index, axis=axis)
        return x
    raise node.unsupported(f"pad mode '{mode}'")


tf_ops.register("Pad", since=2)(
    lambda node, x: _pad(node, x, np.array(node.attr("pads")), np.array(node.attr("value", 0.0)))
)
tf_ops.register("Pad", since=11)(axis_op(_remap_pad)(_pad))


@tf_ops.register("Trilu")
def trilu(node: Node, x, k=None):
    k = tf.cast(0 if k is None else tf.reshape(k, []), tf.int64)
    shape = tf.shape(x, out_type=tf.int64)
    rows = tf.range(shape[-2])[:, None]
    cols = tf.range(shape[-1])[None, :]
    keep = cols - rows >= k if node.attr("upper", 1) else cols - rows <= k
    return tf.where(keep, x, tf.zeros_like(x))


@tf_ops.register("ReverseSequence")
def reverse_sequence(node: Node, x, lengths):
    return tf.reverse_sequence(x, lengths, seq_axis=node.attr("time_axis", 0), batch_axis=node.attr("batch_axis", 1))
