"""Inference-time identities and small leftovers: Dropout, Optional pass-through."""

from __future__ import annotations

import tensorflow as tf

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
