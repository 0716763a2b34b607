"""Ops that make tensors: Constant, ConstantOfShape, Range, EyeLike, OneHot."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from converter.targets.tf.dtypes import tf_dtype
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops
from converter.targets.tf.static import static_ints

__all__: list[str] = []

_CONSTANT_KINDS = {
    "value_float": np.float32,
    "value_floats": np.float32,
    "value_int": np.int64,
    "value_ints": np.int64,
}


@tf_ops.register("Constant")
def constant(node: Node):
    if "value" in node.attrs:
        value = node.attr("value")
        return value if value.dtype != object else tf.constant(value.astype(bytes))
    for key, dtype in _CONSTANT_KINDS.items():
        if key in node.attrs:
            return np.array(node.attr(key), dtype)
    if "value_string" in node.attrs:
        return tf.constant(node.attr("value_string"))
    if "value_strings" in node.attrs:
        return tf.constant(node.attr("value_strings"))
    raise node.unsupported("sparse constants are not supported")


@tf_ops.register("ConstantOfShape")
def constant_of_shape(node: Node, shape):
    value = node.attr("value", np.zeros([1], np.float32))
    known = static_ints(shape)
    if known is not None:
        return np.full(known, value.reshape(-1)[0], value.dtype)
    return tf.fill(tf.cast(shape, tf.int64), tf.constant(value.reshape(-1)[0]))


@tf_ops.register("Range", since=11)
def range_(node: Node, start, limit, delta):
    start = tf.reshape(start, [])
    dtype = start.dtype
    return tf.range(start, tf.cast(tf.reshape(limit, []), dtype), tf.cast(tf.reshape(delta, []), dtype))


@tf_ops.register("EyeLike")
def eye_like(node: Node, x):
    x = tf.convert_to_tensor(x)
    dtype = tf_dtype(node.attr("dtype")) if node.attr("dtype") is not None else x.dtype
    shape = tf.shape(x)
    k = node.attr("k", 0)
    rows = tf.range(shape[0])[:, None]
    cols = tf.range(shape[1])[None, :]
    return tf.cast(tf.equal(cols - rows, k), dtype)


@tf_ops.register("OneHot")
def one_hot(node: Node, indices, depth, values):
    depth = tf.cast(tf.reshape(depth, []), tf.int32)
    indices = tf.cast(indices, tf.int32)
    indices = tf.where(indices < 0, indices + depth, indices)
    off, on = values[0], values[1]
    return tf.one_hot(indices, depth, on_value=on, off_value=off, axis=node.attr("axis", -1))
