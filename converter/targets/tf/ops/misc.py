"""Small leftovers: Dropout, BitCast, CenterCropPad, Unique, TensorScatter and the ai.onnx.ml encoders."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.dtypes import tf_dtype
from converter.targets.tf.layout import elementwise
from converter.targets.tf.node import Node
from converter.targets.tf.ops.common import static
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


@tf_ops.register("Dropout")
@elementwise
def dropout(node: Node, x, ratio=None, training=None):
    mode = static(training)
    if training is not None and (mode is None or bool(mode)):
        raise node.unsupported("training mode dropout is random and not supported")
    x = tf.identity(x)
    if node.output_used(1):
        return x, tf.ones_like(x, dtype=tf.bool)
    return x


@tf_ops.register("BitCast", since=26)
def bit_cast(node: Node, x):
    target = tf_dtype(node.attr("to"))
    x = tf.convert_to_tensor(x)
    if target is None or target.size != x.dtype.size or tf.bool in (target, x.dtype):
        raise node.unsupported("BitCast between types of different sizes (or bool)")
    return tf.bitcast(x, target)


@tf_ops.register("CenterCropPad", since=18)
def center_crop_pad(node: Node, x, shape):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    axes = [a % ndim for a in node.attr("axes", list(range(ndim)))]
    target = tf.cast(tf.reshape(shape, [-1]), tf.int32)
    for i, axis in enumerate(axes):
        size, want = tf.shape(x)[axis], target[i]
        start = tf.maximum(size - want, 0) // 2
        x = tf.gather(x, tf.range(start, start + tf.minimum(size, want)), axis=axis)
        before = tf.maximum(want - size, 0) // 2
        after = tf.maximum(want - size, 0) - before
        paddings = tf.tensor_scatter_nd_update(tf.zeros([ndim, 2], tf.int32), [[axis]], [tf.stack([before, after])])
        x = tf.pad(x, paddings)
    return x


@tf_ops.register("Unique", since=11)
def unique(node: Node, x):
    if node.attr("axis") is not None:
        return _unique_slices(node, tf.convert_to_tensor(x), node.attr("axis"))
    flat = tf.reshape(x, [-1])
    values, inverse = tf.unique(flat, out_idx=tf.int64)
    if node.attr("sorted", 1):
        order = tf.argsort(values, stable=True)
        values = tf.gather(values, order)
        rank = tf.math.invert_permutation(order)
        inverse = tf.gather(tf.cast(rank, tf.int64), inverse)
    count = tf.shape(values, out_type=tf.int64)[0]
    positions = tf.range(tf.size(flat, out_type=tf.int64))
    first = tf.math.unsorted_segment_min(positions, inverse, count)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(positions), inverse, count)
    return values, first, inverse, counts


@tf_ops.register("Binarizer", since=1, domain="ai.onnx.ml")
def binarizer(node: Node, x):
    x = tf.convert_to_tensor(x)
    return tf.cast(x > tf.cast(node.attr("threshold", 0.0), x.dtype), x.dtype)


@tf_ops.register("ArrayFeatureExtractor", since=1, domain="ai.onnx.ml")
def array_feature_extractor(node: Node, x, indices):
    return tf.gather(x, tf.reshape(tf.cast(indices, tf.int64), [-1]), axis=-1)


def _unique_slices(node: Node, x, axis: int):
    """Unique slices along `axis`, sorted lexicographically as ONNX orders them."""
    axis = axis % len(x.shape)
    moved = tf.experimental.numpy.moveaxis(x, axis, 0)
    rows = tf.reshape(moved, [tf.shape(moved)[0], -1])
    width = rows.shape[1]
    if width is None:
        raise node.unsupported("Unique along an axis needs static slice sizes")
    _, inverse = tf.raw_ops.UniqueV2(x=rows, axis=[0], out_idx=tf.int64)
    count = tf.reduce_max(inverse) + 1
    positions = tf.range(tf.shape(rows, out_type=tf.int64)[0])
    first = tf.math.unsorted_segment_min(positions, inverse, count)
    order = tf.range(count)
    if node.attr("sorted", 1):
        keys = tf.gather(rows, first)
        for column in reversed(range(width)):
            order = tf.gather(order, tf.argsort(tf.gather(keys[:, column], order), stable=True))
    rank = tf.cast(tf.math.invert_permutation(order), tf.int64)
    first = tf.gather(first, order)
    values = tf.experimental.numpy.moveaxis(tf.gather(moved, first), 0, axis)
    counts = tf.gather(tf.math.unsorted_segment_sum(tf.ones_like(positions), inverse, count), order)
    return values, first, tf.gather(rank, inverse), counts


@tf_ops.register("TensorScatter", since=24)
def tensor_scatter(node: Node, cache, update, write_indices=None):
    cache, update = tf.convert_to_tensor(cache), tf.convert_to_tensor(update)
    axis = node.attr("axis", -2) % len(cache.shape)
    if axis == 0:
        raise node.unsupported("the sequence axis cannot be the batch axis")
    moved_cache = tf.experimental.numpy.moveaxis(cache, axis, 1)
    moved_update = tf.experimental.numpy.moveaxis(update, axis, 1)
    batch, steps = tf.shape(update, out_type=tf.int64)[0], tf.shape(update, out_type=tf.int64)[axis]
    start = tf.zeros([batch], tf.int64) if write_indices is None else tf.cast(write_indices, tf.int64)
    positions = start[:, None] + tf.range(steps)[None, :]
    if node.attr("mode", "linear") == "circular":
        positions = tf.math.floormod(positions, tf.shape(cache, out_type=tf.int64)[axis])
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(positions))
    updated = tf.tensor_scatter_nd_update(moved_cache, tf.stack([rows, positions], -1), moved_update)
    return tf.experimental.numpy.moveaxis(updated, 1, axis)


def _attr_values(node: Node, prefix: str):
    for suffix in ("strings", "int64s", "floats"):
        if f"{prefix}_{suffix}" in node.attrs:
            return node.attr(f"{prefix}_{suffix}")
    if f"{prefix}_tensor" in node.attrs:
        return node.attr(f"{prefix}_tensor").tolist()
    return None


@tf_ops.register("LabelEncoder", since=2, domain="ai.onnx.ml")
def label_encoder(node: Node, x):
    keys, values = _attr_values(node, "keys"), _attr_values(node, "values")
    if keys is None or values is None:
        raise node.unsupported("keys and values are required")
    values = tf.constant(values)
    default = next(
        (node.attr(k) for k in ("default_string", "default_int64", "default_float") if k in node.attrs), None
    )
    if "default_tensor" in node.attrs:
        default = node.attr("default_tensor").reshape(-1)[0]
    if default is None:
        default = "_Unused" if values.dtype == tf.string else (-1 if values.dtype.is_integer else -0.0)
    matches = tf.equal(tf.convert_to_tensor(x)[..., None], tf.constant(keys, dtype=tf.convert_to_tensor(x).dtype))
    found = tf.reduce_any(matches, -1)
    picked = tf.gather(values, tf.argmax(tf.cast(matches, tf.int32), -1))
    return tf.where(found, picked, tf.cast(default, values.dtype) if values.dtype != tf.string else default)
