"""Training losses that exporters emit: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _nll(node: Node, log_prob, target, weight=None):
    log_prob = tf.convert_to_tensor(log_prob)
    target = tf.cast(target, tf.int64)
    classes_last = tf.experimental.numpy.moveaxis(log_prob, 1, -1)
    ignore = node.attr("ignore_index")
    ignored = tf.zeros_like(target, tf.bool) if ignore is None else tf.equal(target, ignore)
    safe = tf.where(ignored, tf.zeros_like(target), target)
    picked = tf.gather(classes_last, safe[..., None], batch_dims=len(target.shape))[..., 0]
    weights = tf.ones_like(picked) if weight is None else tf.gather(tf.cast(weight, picked.dtype), safe)
    weights = tf.where(ignored, tf.zeros_like(weights), weights)
    loss = -picked * weights
    reduction = node.attr("reduction", "mean")
    if reduction == "none":
        return loss
    if reduction == "sum":
        return tf.reduce_sum(loss)
    if reduction == "mean":
        return tf.reduce_sum(loss) / tf.reduce_sum(weights)
    raise node.unsupported(f"reduction '{reduction}'")


@tf_ops.register("NegativeLogLikelihoodLoss", since=12)
def nll_loss(node: Node, log_prob, target, weight=None):
    return _nll(node, log_prob, target, weight)


@tf_ops.register("SoftmaxCrossEntropyLoss", since=12)
def softmax_cross_entropy(node: Node, scores, labels, weights=None):
    log_prob = tf.nn.log_softmax(tf.convert_to_tensor(scores), axis=1)
    loss = _nll(node, log_prob, labels, weights)
    return (loss, log_prob) if node.output_used(1) else loss
