"""Normalizations: BatchNormalization, Instance/Layer/Group/RMS/Lp normalization, LRN, MVN."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.layout import CHANNELS_LAST
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


@tf_ops.register("BatchNormalization", layout=CHANNELS_LAST)
def batch_norm(node: Node, x, scale, bias, mean, var):
    if node.attr("training_mode", 0):
        return _batch_norm_training(node, x, scale, bias, mean, var)
    dtype = x.dtype
    scale, bias, mean, var = (tf.cast(v, dtype) for v in (scale, bias, mean, var))
    multiplier = scale * tf.math.rsqrt(var + node.attr("epsilon", 1e-5))
    return x * multiplier + (bias - mean * multiplier)


def _batch_norm_training(node: Node, x, scale, bias, running_mean, running_var):
    """Normalize with the batch's statistics and return the updated running statistics too."""
    axes = list(range(len(x.shape) - 1))
    batch_mean, batch_var = tf.nn.moments(x, axes)
    momentum = node.attr("momentum", 0.9)
    scale, bias = tf.cast(scale, x.dtype), tf.cast(bias, x.dtype)
    y = (x - batch_mean) * tf.math.rsqrt(batch_var + node.attr("epsilon", 1e-5)) * scale + bias
    new_mean = tf.cast(running_mean, x.dtype) * momentum + batch_mean * (1 - momentum)
    new_var = tf.cast(running_var, x.dtype) * momentum + batch_var * (1 - momentum)
    return y, new_mean, new_var


@tf_ops.register("InstanceNormalization", layout=CHANNELS_LAST)
def instance_norm(node: Node, x, scale, bias):
    axes = list(range(1, len(x.shape) - 1))
    mean, var = tf.nn.moments(x, axes, keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + node.attr("epsilon", 1e-5)) * scale + bias


@tf_ops.register("LRN", layout=CHANNELS_LAST)
def lrn(node: Node, x):
    size = node.attr("size")
    alpha, beta, bias = node.attr("alpha", 1e-4), node.attr("beta", 0.75), node.attr("bias", 1.0)
    squared = tf.math.square(x)
    ndim = len(x.shape)
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    padded = tf.pad(squared, [(0, 0)] * (ndim - 1) + [(before, after)])
    channels = x.shape[-1]
    total = tf.add_n([padded[..., i : i + channels] for i in range(size)])
    return x / tf.math.pow(bias + alpha / size * total, beta)


@tf_ops.register("LayerNormalization", since=17)
def layer_norm(node: Node, x, scale, bias=None):
    ndim = len(x.shape)
    axis = node.attr("axis", -1) % ndim
    axes = list(range(axis, ndim))
    stash = x.dtype if node.attr("stash_type", 1) != 1 else tf.float32
    xs = tf.cast(x, stash)
    mean, var = tf.nn.moments(xs, axes, keepdims=True)
    inv = tf.math.rsqrt(var + node.attr("epsilon", 1e-5))
    y = tf.cast((xs - mean) * inv, x.dtype) * scale
    if bias is not None:
        y = y + bias
    return y, mean, inv


@tf_ops.register("RMSNormalization", since=23)
def rms_norm(node: Node, x, scale):
    ndim = len(x.shape)
    axes = list(range(node.attr("axis", -1) % ndim, ndim))
    stash = x.dtype if node.attr("stash_type", 1) != 1 else tf.float32
    xs = tf.cast(x, stash)
    inv = tf.math.rsqrt(tf.reduce_mean(tf.math.square(xs), axes, keepdims=True) + node.attr("epsilon", 1e-5))
    return tf.cast(xs * inv, x.dtype) * scale


def _group_norm(node: Node, x, scale, bias, per_channel: bool):
    groups = node.attr("num_groups")
    shape = tf.shape(x)
    channels = x.shape[1]
    grouped = tf.reshape(x, tf.concat([shape[:1], [groups, -1]], 0))
    stash = x.dtype if node.attr("stash_type", 1) != 1 else tf.float32
    xs = tf.cast(grouped, stash)
    mean, var = tf.nn.moments(xs, [2], keepdims=True)
    y = tf.reshape(tf.cast((xs - mean) * tf.math.rsqrt(var + node.attr("epsilon", 1e-5)), x.dtype), shape)
    if not per_channel:
        scale = tf.repeat(scale, channels // groups)
        bias = tf.repeat(bias, channels // groups)
    broadcast = [-1] + [1] * (len(x.shape) - 2)
    return y * tf.reshape(scale, broadcast) + tf.reshape(bias, broadcast)


tf_ops.register("GroupNormalization", since=18)(lambda node, x, s, b: _group_norm(node, x, s, b, False))
tf_ops.register("GroupNormalization", since=21)(lambda node, x, s, b: _group_norm(node, x, s, b, True))


@tf_ops.register("LpNormalization")
def lp_norm(node: Node, x):
    axis = node.attr("axis", -1)
    if node.attr("p", 2) == 1:
        norm = tf.reduce_sum(tf.math.abs(x), axis, keepdims=True)
    else:
        norm = tf.math.sqrt(tf.reduce_sum(tf.math.square(x), axis, keepdims=True))
    return tf.math.divide_no_nan(x, norm)


@tf_ops.register("MeanVarianceNormalization")
def mvn(node: Node, x):
    axes = node.attr("axes", [0, 2, 3])
    mean, var = tf.nn.moments(x, axes, keepdims=True)
    return (x - mean) / (tf.math.sqrt(var) + 1e-9)
