"""Elementwise arithmetic, comparison, logic, unary math and casts (Cast, CastLike, BitCast, ai.onnx.ml encoders)."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.dtypes import tf_dtype
from converter.targets.tf.layout import ELEMENTWISE
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _binary(op_type: str, fn, since: int = 1) -> None:
    tf_ops.register(op_type, since=since, layout=ELEMENTWISE)(lambda node, a, b: fn(a, b))


for _name, _fn in {
    "Add": tf.math.add,
    "Sub": tf.math.subtract,
    "Mul": tf.math.multiply,
    "Equal": tf.math.equal,
    "Less": tf.math.less,
    "LessOrEqual": tf.math.less_equal,
    "Greater": tf.math.greater,
    "GreaterOrEqual": tf.math.greater_equal,
    "And": tf.math.logical_and,
    "Or": tf.math.logical_or,
    "Xor": tf.math.logical_xor,
    "BitwiseAnd": tf.bitwise.bitwise_and,
    "BitwiseOr": tf.bitwise.bitwise_or,
    "BitwiseXor": tf.bitwise.bitwise_xor,
}.items():
    _binary(_name, _fn)


@tf_ops.register("Div", layout=ELEMENTWISE)
def div(node: Node, a, b):
    a = tf.convert_to_tensor(a)
    if a.dtype.is_integer:
        return tf.truncatediv(a, tf.cast(b, a.dtype))
    return tf.math.divide(a, tf.cast(b, a.dtype))


@tf_ops.register("Pow", layout=ELEMENTWISE)
def pow_(node: Node, a, b):
    a = tf.convert_to_tensor(a)
    return tf.math.pow(a, tf.cast(b, a.dtype))


@tf_ops.register("Mod", layout=ELEMENTWISE)
def mod(node: Node, a, b):
    a = tf.convert_to_tensor(a)
    if a.dtype in (tf.float16, tf.bfloat16):
        return tf.cast(mod(node, tf.cast(a, tf.float32), tf.cast(b, tf.float32)), a.dtype)
    b = tf.cast(b, a.dtype)
    if node.attr("fmod", 0) or a.dtype.is_floating:
        return tf.truncatemod(a, b) if node.attr("fmod", 0) else tf.math.floormod(a, b)
    return tf.math.floormod(a, b)


@tf_ops.register("BitShift", layout=ELEMENTWISE)
def bit_shift(node: Node, a, b):
    a = tf.convert_to_tensor(a)
    b = tf.cast(b, a.dtype)
    shifted = tf.bitwise.left_shift(a, b) if node.attr("direction") == "LEFT" else tf.bitwise.right_shift(a, b)
    # ONNX defines shifts outside [0, bit width): 0, or -1 for right shifts of negative signed values.
    outside = (b < 0) | (b >= a.dtype.size * 8)
    fill = tf.zeros_like(a)
    if node.attr("direction") != "LEFT" and not a.dtype.is_unsigned:
        fill = tf.where(a < 0, -tf.ones_like(a), fill)
    return tf.where(outside, fill, shifted)


def _variadic(op_type: str, fn) -> None:
    def handler(node: Node, *values):
        result = values[0]
        for value in values[1:]:
            result = fn(result, value)
        return tf.convert_to_tensor(result) if len(values) > 1 else tf.identity(result)

    tf_ops.register(op_type, layout=ELEMENTWISE)(handler)


_variadic("Max", tf.math.maximum)
_variadic("Min", tf.math.minimum)
_variadic("Sum", tf.math.add)


@tf_ops.register("Mean", layout=ELEMENTWISE)
def mean(node: Node, *values):
    total = values[0]
    for value in values[1:]:
        total = tf.math.add(total, value)
    return total / tf.cast(len(values), tf.convert_to_tensor(total).dtype)


def _unary(op_type: str, fn) -> None:
    tf_ops.register(op_type, layout=ELEMENTWISE)(lambda node, x: fn(x))


for _name, _fn in {
    "Abs": tf.math.abs,
    "Neg": tf.math.negative,
    "Exp": tf.math.exp,
    "Log": tf.math.log,
    "Sqrt": tf.math.sqrt,
    "Reciprocal": tf.math.reciprocal,
    "Floor": tf.math.floor,
    "Ceil": tf.math.ceil,
    "Round": tf.math.round,
    "Sign": tf.math.sign,
    "Sin": tf.math.sin,
    "Cos": tf.math.cos,
    "Tan": tf.math.tan,
    "Asin": tf.math.asin,
    "Acos": tf.math.acos,
    "Atan": tf.math.atan,
    "Sinh": tf.math.sinh,
    "Cosh": tf.math.cosh,
    "Asinh": tf.math.asinh,
    "Acosh": tf.math.acosh,
    "Atanh": tf.math.atanh,
    "Erf": tf.math.erf,
    "IsNaN": tf.math.is_nan,
    "Not": tf.math.logical_not,
    "BitwiseNot": tf.bitwise.invert,
    "Identity": tf.identity,
}.items():
    _unary(_name, _fn)


@tf_ops.register("IsInf", layout=ELEMENTWISE)
def is_inf(node: Node, x):
    positive = tf.math.logical_and(tf.math.is_inf(x), x > 0)
    negative = tf.math.logical_and(tf.math.is_inf(x), x < 0)
    if not node.attr("detect_positive", 1):
        positive = tf.zeros_like(positive)
    if not node.attr("detect_negative", 1):
        negative = tf.zeros_like(negative)
    return tf.math.logical_or(positive, negative)


@tf_ops.register("Where", layout=ELEMENTWISE)
def where(node: Node, condition, x, y):
    return tf.where(tf.cast(condition, tf.bool), x, y)


@tf_ops.register("Clip", since=1, layout=ELEMENTWISE)
def clip_attrs(node: Node, x):
    low = node.attr("min", -3.4028234663852886e38)
    high = node.attr("max", 3.4028234663852886e38)
    return tf.clip_by_value(x, tf.cast(low, x.dtype), tf.cast(high, x.dtype))


@tf_ops.register("Clip", since=11, layout=ELEMENTWISE)
def clip(node: Node, x, low=None, high=None):
    x = tf.convert_to_tensor(x)
    if low is not None:
        x = tf.math.maximum(x, tf.cast(low, x.dtype))
    if high is not None:
        x = tf.math.minimum(x, tf.cast(high, x.dtype))
    return tf.identity(x)


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


@tf_ops.register("Cast", layout=ELEMENTWISE)
def cast(node: Node, x):
    if node.attr("saturate", 1) != 1:
        raise node.unsupported("saturate=0 applies to float8 types only")
    return _cast(node, x, tf_dtype(node.attr("to")))


@tf_ops.register("CastLike", since=15)
def cast_like(node: Node, x, like):
    return _cast(node, x, tf.convert_to_tensor(like).dtype)


@tf_ops.register("BitCast", since=26)
def bit_cast(node: Node, x):
    target = tf_dtype(node.attr("to"))
    x = tf.convert_to_tensor(x)
    if target is None or target.size != x.dtype.size or tf.bool in (target, x.dtype):
        raise node.unsupported("BitCast between types of different sizes (or bool)")
    return tf.bitcast(x, target)


@tf_ops.register("Binarizer", since=1, domain="ai.onnx.ml")
def binarizer(node: Node, x):
    x = tf.convert_to_tensor(x)
    return tf.cast(x > tf.cast(node.attr("threshold", 0.0), x.dtype), x.dtype)


@tf_ops.register("ArrayFeatureExtractor", since=1, domain="ai.onnx.ml")
def array_feature_extractor(node: Node, x, indices):
    return tf.gather(x, tf.reshape(tf.cast(indices, tf.int64), [-1]), axis=-1)


def _attr_values(node: Node, prefix: str):
    for suffix in ("strings", "int64s", "floats"):
        if f"{prefix}_{suffix}" in node.attrs:
            return node.attr(f"{prefix}_{suffix}")
    if f"{prefix}_tensor" in node.attrs:
        return node.attr(f"{prefix}_tensor").tolist()
    return None


@tf_ops.register("LabelEncoder", since=2, domain="ai.onnx.ml")
def label_encoder(node: Node, x):
    keys, values = _attr_values(node, "keys"), _attr_values(node, "values")
    if keys is None or values is None:
        raise node.unsupported("keys and values are required")
    values = tf.constant(values)
    default = next(
        (node.attr(k) for k in ("default_string", "default_int64", "default_float") if k in node.attrs), None
    )
    if "default_tensor" in node.attrs:
        default = node.attr("default_tensor").reshape(-1)[0]
    if default is None:
        default = "_Unused" if values.dtype == tf.string else (-1 if values.dtype.is_integer else -0.0)
    matches = tf.equal(tf.convert_to_tensor(x)[..., None], tf.constant(keys, dtype=tf.convert_to_tensor(x).dtype))
    found = tf.reduce_any(matches, -1)
    picked = tf.gather(values, tf.argmax(tf.cast(matches, tf.int32), -1))
    return tf.where(found, picked, tf.cast(default, values.dtype) if values.dtype != tf.string else default)
