"""Shape manipulation: Reshape, Flatten, Transpose, (Un)Squeeze, Expand, Shape, Size, Concat, Split, Tile."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import tensorflow as tf

from converter.targets.tf.layout import axis_layout
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops
from converter.targets.tf.static import static_ints

__all__: list[str] = []


def _reshape(node: Node, x, shape):
    x = tf.convert_to_tensor(x)
    known = static_ints(shape)
    if known is not None and not node.attr("allowzero", 0):
        known = [int(x.shape[i]) if d == 0 and x.shape[i] is not None else d for i, d in enumerate(known)]
        if known.count(0) == 1 and -1 not in known:
            known[known.index(0)] = -1  # the one unknown copied dim follows from the element count
        if 0 not in known:
            return tf.reshape(x, known)
    shape = tf.cast(shape, tf.int64)
    if node.attr("allowzero", 0):
        return tf.reshape(x, shape)
    current = tf.shape(x, out_type=tf.int64)
    padded = tf.concat([current, tf.zeros_like(shape)], 0)[: tf.size(shape)]
    return tf.reshape(x, tf.where(tf.equal(shape, 0), padded, shape))


tf_ops.register("Reshape", since=5)(_reshape)
tf_ops.register("Reshape", since=1)(lambda node, x: _reshape(node, x, np.array(node.attr("shape"))))


@tf_ops.register("Flatten")
def flatten(node: Node, x):
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis", 1)
    axis = axis + len(x.shape) if axis < 0 else axis
    static_shape = x.shape.as_list()
    if None not in static_shape:
        return tf.reshape(x, [int(np.prod(static_shape[:axis])), int(np.prod(static_shape[axis:]))])
    shape = tf.shape(x)
    return tf.reshape(x, tf.stack([tf.reduce_prod(shape[:axis]), tf.reduce_prod(shape[axis:])]))


@tf_ops.register("Transpose")
def transpose(node: Node, x):
    perm = node.attr("perm")
    if perm is None:
        perm = list(reversed(range(len(x.shape))))
    return tf.transpose(x, perm)


def _squeeze(node: Node, x, axes=None):
    x = tf.convert_to_tensor(x)
    if axes is None:
        return tf.squeeze(x)
    known = static_ints(axes)
    if known is not None:
        return tf.squeeze(x, [a % len(x.shape) for a in known])
    axes = tf.math.floormod(tf.reshape(tf.cast(axes, tf.int64), [-1]), len(x.shape))
    dropped = tf.reduce_any(tf.equal(tf.range(len(x.shape), dtype=tf.int64)[:, None], axes[None, :]), 1)
    return tf.reshape(x, tf.boolean_mask(tf.shape(x, out_type=tf.int64), tf.logical_not(dropped)))


def _unsqueeze(node: Node, x, axes):
    x = tf.convert_to_tensor(x)
    known = static_ints(axes)
    if known is not None:
        ndim = len(x.shape) + len(known)
        for axis in sorted(a % ndim for a in known):
            x = tf.expand_dims(x, axis)
        return x
    axes = tf.reshape(tf.cast(axes, tf.int64), [-1])
    ndim = len(x.shape) + int(axes.shape[0])
    added = tf.reduce_any(tf.equal(tf.range(ndim, dtype=tf.int64)[:, None], tf.math.floormod(axes, ndim)[None, :]), 1)
    source = tf.math.cumsum(tf.cast(tf.logical_not(added), tf.int64)) - 1
    old = tf.concat([tf.shape(x, out_type=tf.int64), [1]], 0)
    shape = tf.where(added, tf.ones([ndim], tf.int64), tf.gather(old, tf.maximum(source, 0)))
    return tf.reshape(x, shape)


tf_ops.register("Squeeze", since=1)(lambda node, x: _squeeze(node, x, node.attr("axes")))
tf_ops.register("Squeeze", since=13)(_squeeze)
tf_ops.register("Unsqueeze", since=1)(lambda node, x: _unsqueeze(node, x, node.attr("axes")))
tf_ops.register("Unsqueeze", since=13)(_unsqueeze)


@tf_ops.register("Expand", since=8)
def expand(node: Node, x, shape):
    x = tf.convert_to_tensor(x)
    target = tf.broadcast_dynamic_shape(tf.shape(x, out_type=tf.int64), tf.cast(shape, tf.int64))
    return tf.broadcast_to(x, target)


def _remap_axis(node: Node, args: list, ndim: int, actual) -> tuple[Node, list]:
    return replace(node, attrs={**node.attrs, "axis": actual(node.attr("axis", 0))}), args


def _remap_shape(node: Node, args: list, ndim: int, actual) -> tuple[Node, list]:
    return replace(node, attrs={**node.attrs, "_order": [actual(i) for i in range(ndim)]}), args


@tf_ops.register("Shape", layout=axis_layout(_remap_shape, outputs_last=False))
def shape_(node: Node, x):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    order = node.attr("_order", list(range(ndim)))
    start = node.attr("start", 0)
    end = node.attr("end", ndim)
    start = min(max(start + ndim if start < 0 else start, 0), ndim)
    end = min(max(end + ndim if end < 0 else end, 0), ndim)
    dims = [x.shape[i] for i in order][start:end]
    if None not in dims:
        return np.array(dims, np.int64)
    return tf.gather(tf.shape(x, out_type=tf.int64), order[start:end])


@tf_ops.register("Size")
def size(node: Node, x):
    return tf.size(x, out_type=tf.int64)


@tf_ops.register("Concat", layout=axis_layout(_remap_axis, all_inputs=True))
def concat(node: Node, *values):
    values = [v for v in values if v is not None]
    if all(isinstance(v, np.ndarray) for v in values):
        return np.concatenate(values, node.attr("axis"))
    return tf.concat(values, node.attr("axis"))


def _split(node: Node, x, sizes):
    axis = node.attr("axis", 0) % len(x.shape)
    count = node.num_outputs
    if sizes is not None:
        return tf.split(x, static_ints(sizes) or sizes, axis=axis)
    num = node.attr("num_outputs", count)
    length = x.shape[axis]
    if length is None or length % num == 0:
        return tf.split(x, num, axis=axis)
    chunk = -(-length // num)
    return tf.split(x, [chunk] * (num - 1) + [length - chunk * (num - 1)], axis=axis)


tf_ops.register("Split", since=1, layout=axis_layout(_remap_axis))(
    lambda node, x, s=None: _split(node, x, s if s is not None else node.attr("split"))
)
tf_ops.register("Split", since=13, layout=axis_layout(_remap_axis))(lambda node, x, s=None: _split(node, x, s))


@tf_ops.register("Tile", since=6)
def tile(node: Node, x, repeats):
    return tf.tile(x, tf.cast(repeats, tf.int64))


@tf_ops.register("DepthToSpace")
def depth_to_space(node: Node, x):
    b = node.attr("blocksize")
    n, c, h, w = tf.unstack(tf.shape(x))
    if node.attr("mode", "DCR") == "DCR":
        y = tf.reshape(x, tf.stack([n, b, b, c // (b * b), h, w]))
        y = tf.transpose(y, [0, 3, 4, 1, 5, 2])
    else:
        y = tf.reshape(x, tf.stack([n, c // (b * b), b, b, h, w]))
        y = tf.transpose(y, [0, 1, 4, 2, 5, 3])
    return tf.reshape(y, tf.stack([n, c // (b * b), h * b, w * b]))


@tf_ops.register("SpaceToDepth")
def space_to_depth(node: Node, x):
    b = node.attr("blocksize")
    n, c, h, w = tf.unstack(tf.shape(x))
    y = tf.reshape(x, tf.stack([n, c, h // b, b, w // b, b]))
    y = tf.transpose(y, [0, 1, 3, 5, 2, 4] if node.attr("mode", "DCR") == "CRD" else [0, 3, 5, 1, 2, 4])
    return tf.reshape(y, tf.stack([n, c * b * b, h // b, w // b]))
