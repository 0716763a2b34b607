"""Cast and CastLike between the element types both ONNX and TensorFlow have."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.dtypes import tf_dtype
from converter.targets.tf.layout import elementwise
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _cast(node: Node, x, dtype):
    x = tf.convert_to_tensor(x)
    if dtype is None:
        raise node.unsupported("target element type has no TensorFlow equivalent")
    if dtype == tf.string:
        if x.dtype == tf.string:
            return x
        if x.dtype.is_floating:
            raise node.unsupported("float -> string formatting differs from ONNX")
        return tf.strings.as_string(x)
    if x.dtype == tf.string:
        number = tf.strings.to_number(x, out_type=dtype if dtype.is_floating else tf.int64)
        return tf.cast(number, dtype)
    return tf.cast(x, dtype)


@tf_ops.register("Cast")
@elementwise
def cast(node: Node, x):
    if node.attr("saturate", 1) != 1:
        raise node.unsupported("saturate=0 applies to float8 types only")
    return _cast(node, x, tf_dtype(node.attr("to")))


@tf_ops.register("CastLike", since=15)
def cast_like(node: Node, x, like):
    return _cast(node, x, tf.convert_to_tensor(like).dtype)
