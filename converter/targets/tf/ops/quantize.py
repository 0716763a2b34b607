"""Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.dtypes import tf_dtype
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _per_axis(node: Node, value, x):
    """A scale or zero point, shaped to broadcast along the node's axis of `x`."""
    value = tf.convert_to_tensor(value)
    if node.attr("block_size", 0):
        raise node.unsupported("blocked quantization is not supported")
    if len(value.shape) == 0 or value.shape.num_elements() == 1:
        return tf.reshape(value, [])
    axis = node.attr("axis", 1) % len(x.shape)
    shape = [1] * len(x.shape)
    shape[axis] = -1
    return tf.reshape(value, shape)


@tf_ops.register("DequantizeLinear", since=10)
def dequantize_linear(node: Node, x, scale, zero_point=None):
    scale = _per_axis(node, scale, x)
    real = tf.cast(x, tf.float32)
    if zero_point is not None:
        real = real - tf.cast(_per_axis(node, zero_point, x), tf.float32)
    return tf.cast(real * tf.cast(scale, tf.float32), scale.dtype)


@tf_ops.register("QuantizeLinear", since=10)
def quantize_linear(node: Node, x, scale, zero_point=None):
    if zero_point is not None:
        target = tf.convert_to_tensor(zero_point).dtype
    else:
        target = tf_dtype(node.attr("output_dtype")) if node.attr("output_dtype") else tf.uint8
    if target is None or not target.is_integer:
        raise node.unsupported("only integer quantized types are supported")
    scaled = tf.math.round(tf.cast(x, tf.float32) / tf.cast(_per_axis(node, scale, x), tf.float32))
    if zero_point is not None:
        scaled = scaled + tf.cast(_per_axis(node, zero_point, x), tf.float32)
    return tf.cast(tf.clip_by_value(scaled, target.min, target.max), target)


@tf_ops.register("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(node: Node, x):
    x = tf.cast(x, tf.float32)
    low = tf.minimum(tf.reduce_min(x), 0.0)
    high = tf.maximum(tf.reduce_max(x), 0.0)
    scale = (high - low) / 255.0
    safe = tf.where(scale == 0, tf.ones_like(scale), scale)
    zero = tf.clip_by_value(tf.math.round(-low / safe), 0.0, 255.0)
    y = tf.clip_by_value(tf.math.round(x / safe) + zero, 0.0, 255.0)
    return tf.cast(y, tf.uint8), scale, tf.cast(zero, tf.uint8)


@tf_ops.register("MatMulInteger")
def matmul_integer(node: Node, a, b, a_zero=None, b_zero=None):
    a = tf.cast(a, tf.int32) - (0 if a_zero is None else tf.cast(a_zero, tf.int32))
    b = tf.cast(b, tf.int32)
    if b_zero is not None:
        b = b - tf.cast(b_zero, tf.int32)
    return tf.linalg.matmul(a, b)


def _column(value):
    """A per-row quantization parameter of A, (M,) -> (M, 1); scalars unchanged."""
    value = tf.convert_to_tensor(value)
    return value[:, None] if len(value.shape) == 1 and value.shape[0] != 1 else value


@tf_ops.register("QLinearMatMul", since=10)
def qlinear_matmul(node: Node, a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero):
    a_real = (tf.cast(a, tf.float32) - tf.cast(_column(a_zero), tf.float32)) * tf.cast(_column(a_scale), tf.float32)
    b_real = (tf.cast(b, tf.float32) - tf.cast(b_zero, tf.float32)) * tf.cast(b_scale, tf.float32)
    y_zero = tf.convert_to_tensor(y_zero)
    y = tf.math.round(tf.linalg.matmul(a_real, b_real) / tf.cast(y_scale, tf.float32)) + tf.cast(y_zero, tf.float32)
    return tf.cast(tf.clip_by_value(y, y_zero.dtype.min, y_zero.dtype.max), y_zero.dtype)
