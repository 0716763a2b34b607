"""String ops: StringConcat, StringSplit, RegexFullMatch."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


@tf_ops.register("StringConcat", since=20)
def string_concat(node: Node, a, b):
    a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
    shape = tf.broadcast_dynamic_shape(tf.shape(a), tf.shape(b))
    return tf.strings.join([tf.broadcast_to(a, shape), tf.broadcast_to(b, shape)])


@tf_ops.register("RegexFullMatch", since=20)
def regex_full_match(node: Node, x):
    return tf.strings.regex_full_match(x, node.attr("pattern"))


@tf_ops.register("StringSplit", since=20)
def string_split(node: Node, x):
    x = tf.convert_to_tensor(x)
    delimiter = node.attr("delimiter") or None
    maxsplit = node.attr("maxsplit", -1)
    if delimiter is None:
        x = tf.strings.strip(x)
    parts = tf.strings.split(x, sep=delimiter, maxsplit=maxsplit)
    if delimiter is None:
        parts = tf.ragged.boolean_mask(parts, tf.strings.length(parts) > 0)
    counts = tf.cast(parts.row_lengths(axis=-1), tf.int64)
    return parts.to_tensor(default_value=""), counts
