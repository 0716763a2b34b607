"""Indexing: Gather/GatherElements/GatherND, the Scatter family, OneHot, TopK, ArgMax/ArgMin, NonZero, Compress."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _wrap(indices, size):
    indices = tf.cast(indices, tf.int64)
    return tf.where(indices < 0, indices + tf.cast(size, tf.int64), indices)


@tf_ops.register("Gather")
def gather(node: Node, x, indices):
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis", 0) % len(x.shape)
    return tf.gather(x, _wrap(indices, tf.shape(x)[axis]), axis=axis)


def _element_coords(indices, axis: int):
    """Full coordinates for GatherElements/ScatterElements: `indices` on `axis`, iota elsewhere."""
    shape = tf.shape(indices, out_type=tf.int64)
    grids = tf.meshgrid(*[tf.range(shape[i]) for i in range(len(indices.shape))], indexing="ij")
    grids[axis] = indices
    return tf.stack(grids, -1)


@tf_ops.register("GatherElements")
def gather_elements(node: Node, x, indices):
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis", 0) % len(x.shape)
    indices = _wrap(indices, tf.shape(x)[axis])
    return tf.gather_nd(x, _element_coords(indices, axis))


@tf_ops.register("GatherND")
def gather_nd(node: Node, x, indices):
    x = tf.convert_to_tensor(x)
    dims = node.attr("batch_dims", 0)
    indices = tf.cast(indices, tf.int64)
    indices = tf.where(indices < 0, indices + tf.shape(x, out_type=tf.int64)[dims : dims + indices.shape[-1]], indices)
    return tf.gather_nd(x, indices, batch_dims=dims)


def _scatter(node: Node, x, coords, updates):
    reduction = node.attr("reduction", "none")
    fn = {
        "none": tf.tensor_scatter_nd_update,
        "add": tf.tensor_scatter_nd_add,
        "mul": None,
        "max": tf.tensor_scatter_nd_max,
        "min": tf.tensor_scatter_nd_min,
    }.get(reduction)
    if reduction == "mul":
        ones = tf.ones_like(x)
        factors = tf.tensor_scatter_nd_update(ones, coords, tf.ones_like(updates))
        product = tf.math.exp(tf.tensor_scatter_nd_add(tf.zeros_like(x), coords, tf.math.log(updates)))
        return x * tf.where(tf.equal(factors, 1), product, ones)
    if fn is None:
        raise node.unsupported(f"reduction '{reduction}'")
    return fn(x, coords, updates)


@tf_ops.register("ScatterElements")
def scatter_elements(node: Node, x, indices, updates):
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis", 0) % len(x.shape)
    indices = _wrap(indices, tf.shape(x)[axis])
    return _scatter(node, x, _element_coords(indices, axis), updates)


tf_ops.register("Scatter", since=9)(scatter_elements)


@tf_ops.register("ScatterND")
def scatter_nd(node: Node, x, indices, updates):
    return _scatter(node, tf.convert_to_tensor(x), tf.cast(indices, tf.int64), updates)


@tf_ops.register("OneHot")
def one_hot(node: Node, indices, depth, values):
    depth = tf.cast(tf.reshape(depth, []), tf.int32)
    indices = tf.cast(indices, tf.int32)
    indices = tf.where(indices < 0, indices + depth, indices)
    off, on = values[0], values[1]
    return tf.one_hot(indices, depth, on_value=on, off_value=off, axis=node.attr("axis", -1))


@tf_ops.register("TopK", since=10)
def top_k(node: Node, x, k):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    axis = node.attr("axis", -1) % ndim
    k = tf.reshape(tf.cast(k, tf.int32), [])
    moved = x if axis == ndim - 1 else tf.experimental.numpy.moveaxis(x, axis, -1)
    if node.attr("largest", 1):
        values, indices = tf.math.top_k(moved, k, sorted=True)
    else:
        values, indices = tf.math.top_k(-moved, k, sorted=True)
        values = -values
    if axis != ndim - 1:
        values = tf.experimental.numpy.moveaxis(values, -1, axis)
        indices = tf.experimental.numpy.moveaxis(indices, -1, axis)
    return values, tf.cast(indices, tf.int64)


def _arg(node: Node, x, fn):
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis", 0) % len(x.shape)
    if node.attr("select_last_index", 0):
        flipped = tf.reverse(x, [axis])
        result = tf.cast(tf.shape(x)[axis] - 1, tf.int64) - fn(flipped, axis=axis)
    else:
        result = fn(x, axis=axis)
    return tf.expand_dims(result, axis) if node.attr("keepdims", 1) else result


tf_ops.register("ArgMax")(lambda node, x: _arg(node, x, tf.math.argmax))
tf_ops.register("ArgMin")(lambda node, x: _arg(node, x, tf.math.argmin))


@tf_ops.register("NonZero")
def non_zero(node: Node, x):
    return tf.transpose(tf.where(tf.not_equal(x, tf.zeros_like(x))))


@tf_ops.register("Compress")
def compress(node: Node, x, condition):
    condition = tf.cast(condition, tf.bool)
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis")
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    axis = axis % len(x.shape)
    length = tf.shape(x)[axis]
    condition = tf.pad(condition, [[0, tf.maximum(length - tf.size(condition), 0)]])[:length]
    return tf.boolean_mask(x, condition, axis=axis)
