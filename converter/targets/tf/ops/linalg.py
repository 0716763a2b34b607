"""Matrix products: MatMul, Gemm, Einsum, Det."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


@tf_ops.register("MatMul")
def matmul(node: Node, a, b):
    a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
    if len(a.shape) == 1 and len(b.shape) == 1:
        return tf.reduce_sum(a * b)
    if len(a.shape) == 1:
        return tf.squeeze(tf.linalg.matmul(a[None, :], b), -2)
    if len(b.shape) == 1:
        return tf.squeeze(tf.linalg.matmul(a, b[:, None]), -1)
    if len(a.shape) == 2 and len(b.shape) > 2:
        a = tf.broadcast_to(a, tf.concat([tf.shape(b)[:-2], tf.shape(a)], 0))
    if len(b.shape) == 2 and len(a.shape) > 2:
        return _matmul_by_matrix(a, b)
    return tf.linalg.matmul(a, b)


def _matmul_by_matrix(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """[..., K] x [K, N] as one 2-D MatMul: a batched one would copy the weights for every batch row."""
    depth = a.shape[-1] if a.shape[-1] is not None else tf.shape(a)[-1]
    product = tf.linalg.matmul(tf.reshape(a, [-1, depth]), b)
    lead = a.shape[:-1].as_list()
    if lead.count(None) <= 1 and 0 not in lead and b.shape[-1] is not None:
        # One unknown dim (the batch) is what the 2-D product's rows leave over: no shape arithmetic.
        return tf.reshape(product, [-1 if d is None else d for d in lead] + [b.shape[-1]])
    return tf.reshape(product, tf.concat([tf.shape(a)[:-1], tf.shape(b)[-1:]], 0))


@tf_ops.register("Gemm")
def gemm(node: Node, a, b, c=None):
    a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
    result = tf.linalg.matmul(a, b, transpose_a=bool(node.attr("transA", 0)), transpose_b=bool(node.attr("transB", 0)))
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if alpha != 1.0:
        result = result * tf.cast(alpha, result.dtype)
    if c is not None:
        c = tf.cast(c, result.dtype)
        if len(c.shape) == 2 and c.shape[0] == 1:
            c = tf.reshape(c, [-1])  # a [1, N] bias trips TensorFlow's MatMul+BiasAdd fusion
        result = result + (c if beta == 1.0 else c * tf.cast(beta, result.dtype))
    return result


@tf_ops.register("Einsum")
def einsum(node: Node, *values):
    return tf.einsum(node.attr("equation").replace(" ", ""), *values)


@tf_ops.register("Det")
def det(node: Node, x):
    return tf.linalg.det(x)


