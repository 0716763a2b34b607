"""Activations, the softmax family and Dropout (inference only)."""

from __future__ import annotations

from dataclasses import replace

import tensorflow as tf

from converter.targets.tf.fusion import FUSED_DOMAIN
from converter.targets.tf.layout import ELEMENTWISE, axis_layout
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops
from converter.targets.tf.static import static

__all__: list[str] = []


@tf_ops.register("Relu", layout=ELEMENTWISE)
def relu(node: Node, x):
    return tf.nn.relu(x)


@tf_ops.register("LeakyRelu", layout=ELEMENTWISE)
def leaky_relu(node: Node, x):
    return tf.nn.leaky_relu(x, alpha=node.attr("alpha", 0.01))


@tf_ops.register("PRelu", layout=ELEMENTWISE)
def prelu(node: Node, x, slope):
    return tf.where(x < 0, x * tf.cast(slope, x.dtype), x)


@tf_ops.register("Elu", layout=ELEMENTWISE)
def elu(node: Node, x):
    alpha = node.attr("alpha", 1.0)
    return tf.where(x > 0, x, alpha * (tf.math.exp(x) - 1))


@tf_ops.register("Selu", layout=ELEMENTWISE)
def selu(node: Node, x):
    alpha = node.attr("alpha", 1.67326319217681884765625)
    gamma = node.attr("gamma", 1.05070102214813232421875)
    return gamma * tf.where(x > 0, x, alpha * (tf.math.exp(x) - 1))


@tf_ops.register("Celu", layout=ELEMENTWISE)
def celu(node: Node, x):
    alpha = node.attr("alpha", 1.0)
    zero = tf.zeros_like(x)
    return tf.math.maximum(x, zero) + tf.math.minimum(zero, alpha * (tf.math.exp(x / alpha) - 1))


@tf_ops.register("Sigmoid", layout=ELEMENTWISE)
def sigmoid(node: Node, x):
    return tf.math.sigmoid(x)


@tf_ops.register("HardSigmoid", layout=ELEMENTWISE)
def hard_sigmoid(node: Node, x):
    alpha, beta = node.attr("alpha", 0.2), node.attr("beta", 0.5)
    return tf.clip_by_value(alpha * x + beta, 0.0, 1.0)


@tf_ops.register("HardSwish", layout=ELEMENTWISE)
def hard_swish(node: Node, x):
    return x * tf.clip_by_value(x / 6 + 0.5, 0.0, 1.0)


@tf_ops.register("Tanh", layout=ELEMENTWISE)
def tanh(node: Node, x):
    return tf.math.tanh(x)


@tf_ops.register("Softplus", layout=ELEMENTWISE)
def softplus(node: Node, x):
    return tf.math.softplus(x)


@tf_ops.register("Softsign", layout=ELEMENTWISE)
def softsign(node: Node, x):
    return x / (1 + tf.math.abs(x))


@tf_ops.register("ThresholdedRelu", layout=ELEMENTWISE)
def thresholded_relu(node: Node, x):
    return tf.where(x > node.attr("alpha", 1.0), x, tf.zeros_like(x))


@tf_ops.register("Mish", layout=ELEMENTWISE)
def mish(node: Node, x):
    return x * tf.math.tanh(tf.math.softplus(x))


@tf_ops.register("Swish", since=24, layout=ELEMENTWISE)
def swish(node: Node, x):
    return x * tf.math.sigmoid(node.attr("alpha", 1.0) * x)


@tf_ops.register("Gelu", since=20, layout=ELEMENTWISE)
def gelu(node: Node, x):
    # tf.nn.gelu, not its formula spelled out: TFLite converts it to the builtin GELU (it has no Erf).
    return tf.nn.gelu(x, approximate=node.attr("approximate", "none") == "tanh")


tf_ops.register("Gelu", domain=FUSED_DOMAIN)(gelu)


@tf_ops.register("Shrink", layout=ELEMENTWISE)
def shrink(node: Node, x):
    bias, lambd = node.attr("bias", 0.0), node.attr("lambd", 0.5)
    xf = tf.cast(x, tf.float32)
    out = tf.where(xf < -lambd, xf + bias, tf.where(xf > lambd, xf - bias, tf.zeros_like(xf)))
    return tf.cast(out, x.dtype)


def _softmax_family(op_type: str, fn) -> None:
    def legacy(node: Node, x):
        ndim = len(x.shape)
        axis = node.attr("axis", 1) % ndim
        shape = tf.shape(x)
        flat = tf.reshape(x, tf.stack([tf.reduce_prod(shape[:axis]), tf.reduce_prod(shape[axis:])]))
        return tf.reshape(fn(flat, -1), shape)

    def modern(node: Node, x):
        return fn(x, node.attr("axis", -1) % len(x.shape))

    tf_ops.register(op_type, since=1)(legacy)
    tf_ops.register(op_type, since=13, layout=axis_layout(remap_axis))(modern)


def remap_axis(node: Node, args: list, ndim: int, actual) -> tuple[Node, list]:
    """For channels-last data: the node with its `axis` attribute moved to where that axis lives."""
    return replace(node, attrs={**node.attrs, "axis": actual(node.attr("axis", -1))}), args


def _hardmax(x, axis):
    return tf.one_hot(tf.math.argmax(x, axis=axis), tf.shape(x)[axis], axis=axis, dtype=x.dtype)


_softmax_family("Softmax", lambda x, axis: tf.nn.softmax(x, axis=axis))
_softmax_family("LogSoftmax", lambda x, axis: tf.nn.log_softmax(x, axis=axis))
_softmax_family("Hardmax", _hardmax)


@tf_ops.register("Dropout", layout=ELEMENTWISE)
def dropout(node: Node, x, ratio=None, training=None):
    mode = static(training)
    if training is not None and (mode is None or bool(mode)):
        raise node.unsupported("training mode dropout is random and not supported")
    x = tf.identity(x)
    if node.output_used(1):
        return x, tf.ones_like(x, dtype=tf.bool)
    return x
