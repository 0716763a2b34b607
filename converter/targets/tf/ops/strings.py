"""String ops: StringConcat, StringSplit, RegexFullMatch, StringNormalizer."""

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


@tf_ops.register("StringNormalizer", since=10)
def string_normalizer(node: Node, x):
    x = tf.convert_to_tensor(x)
    if len(x.shape) == 2 and x.shape[0] != 1:
        raise node.unsupported("only [C] and [1, C] inputs are supported")
    flat = tf.reshape(x, [-1])
    stopwords = node.attr("stopwords", [])
    if stopwords:
        sensitive = bool(node.attr("is_case_sensitive", 0))
        words = flat if sensitive else tf.strings.lower(flat)
        stops = tf.constant(stopwords if sensitive else [w.lower() for w in stopwords])
        flat = tf.boolean_mask(flat, tf.logical_not(tf.reduce_any(tf.equal(words[:, None], stops[None, :]), 1)))
    action = node.attr("case_change_action", "NONE")
    if action == "LOWER":
        flat = tf.strings.lower(flat)
    elif action == "UPPER":
        flat = tf.strings.upper(flat)
    flat = tf.cond(tf.size(flat) > 0, lambda: flat, lambda: tf.constant([""]))
    return flat[None, :] if len(x.shape) == 2 else flat
