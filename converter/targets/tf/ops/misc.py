"""Small leftovers: Dropout (inference), BitCast, CenterCropPad, Unique, Binarizer, ArrayFeatureExtractor."""

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
        raise node.unsupported("Unique along an axis is not supported")
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
