"""Elementwise arithmetic, comparison, logic and casts, with ONNX (numpy) broadcasting."""

from __future__ import annotations

import functools

import torch

from converter.targets.torch import dims as symbolic
from converter.targets.torch.dtypes import torch_dtype
from converter.targets.torch.node import Node
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import functions as runtime

_BINARY = {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Equal": torch.eq,
    "Less": torch.lt,
    "LessOrEqual": torch.le,
    "Greater": torch.gt,
    "GreaterOrEqual": torch.ge,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "Xor": torch.logical_xor,
    "BitwiseAnd": torch.bitwise_and,
    "BitwiseOr": torch.bitwise_or,
    "BitwiseXor": torch.bitwise_xor,
}
_UNARY = {
    "Abs": torch.abs,
    "Neg": torch.neg,
    "Exp": torch.exp,
    "Log": torch.log,
    "Sqrt": torch.sqrt,
    "Reciprocal": torch.reciprocal,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Round": torch.round,
    "Sign": torch.sign,
    "Sin": torch.sin,
    "Cos": torch.cos,
    "Tan": torch.tan,
    "Asin": torch.asin,
    "Acos": torch.acos,
    "Atan": torch.atan,
    "Sinh": torch.sinh,
    "Cosh": torch.cosh,
    "Asinh": torch.asinh,
    "Acosh": torch.acosh,
    "Atanh": torch.atanh,
    "Erf": torch.erf,
    "Not": torch.logical_not,
    "BitwiseNot": torch.bitwise_not,
    "IsNaN": torch.isnan,
}
_VARIADIC = {"Max": torch.maximum, "Min": torch.minimum, "Sum": torch.add}


_WIDENED = (torch.uint16, torch.uint32, torch.uint64)


def _widened(node: Node, fn, *xs):
    """`fn(*xs)`, computed in int64 for the unsigned types most torch kernels lack."""
    dtype = node.dtype(0)
    if dtype not in _WIDENED:
        return fn(*xs)
    result = fn(*[x.to(torch.int64) for x in xs])
    return result.to(node.out_dtype(0) or dtype)


def _binary(fn):
    return lambda node, a, b: _widened(node, fn, a, b)


def _unary(fn):
    return lambda node, x: _widened(node, fn, x)


def _variadic(fn):
    return lambda node, *xs: _widened(node, lambda *ys: functools.reduce(fn, ys), *xs)


for _op, _fn in _BINARY.items():
    torch_ops.register(_op, dims=symbolic.ARITHMETIC.get(_op))(_binary(_fn))
for _op, _fn in _UNARY.items():
    torch_ops.register(_op)(_unary(_fn))
for _op, _fn in _VARIADIC.items():
    torch_ops.register(_op, dims=symbolic.ARITHMETIC.get(_op))(_variadic(_fn))


@torch_ops.register("Div", dims=symbolic.ARITHMETIC["Div"])
def div(node: Node, a, b):
    dtype = node.dtype(0)
    if dtype is None:
        return node.call(runtime.onnx_div, a, b)
    if not dtype.is_floating_point and not dtype.is_complex:
        return _widened(node, lambda x, y: torch.div(x, y, rounding_mode="trunc"), a, b)
    return torch.div(a, b)


@torch_ops.register("Mod")
def mod(node: Node, a, b):
    return _widened(node, torch.fmod if node.attr("fmod", 0) else torch.remainder, a, b)


@torch_ops.register("Pow")
def pow_(node: Node, a, b):
    result = torch.pow(a, b)
    if node.dtype(0) is not None and node.dtype(1) is not None and node.dtype(0) != node.dtype(1):
        return result.to(node.dtype(0))
    return result


@torch_ops.register("Mean")
def mean(node: Node, *xs):
    return torch.div(functools.reduce(torch.add, xs), len(xs))


@torch_ops.register("BitShift")
def bit_shift(node: Node, x, y):
    if node.attr("direction") == "LEFT":
        return _widened(node, torch.bitwise_left_shift, x, y)
    return _widened(node, torch.bitwise_right_shift, x, y)


@torch_ops.register("IsInf")
def is_inf(node: Node, x):
    positive, negative = node.attr("detect_positive", 1), node.attr("detect_negative", 1)
    if positive and negative:
        return torch.isinf(x)
    if positive:
        return torch.isposinf(x)
    if negative:
        return torch.isneginf(x)
    return torch.zeros_like(x, dtype=torch.bool)


@torch_ops.register("Where")
def where(node: Node, condition, x, y):
    return torch.where(condition, x, y)


@torch_ops.register("Clip")
def clip_6(node: Node, x):
    return torch.clamp(x, node.attr("min", -3.4028234663852886e38), node.attr("max", 3.4028234663852886e38))


@torch_ops.register("Clip", since=11)
def clip(node: Node, x, low=None, high=None):
    if low is None and high is None:
        return x
    return torch.clamp(x, low, high)


@torch_ops.register("Identity", dims=symbolic.same)
def identity(node: Node, x):
    return x


@torch_ops.register("Cast", dims=symbolic.same)
def cast(node: Node, x):
    dtype = torch_dtype(node.attr("to"))
    if dtype is None:
        raise node.unsupported(f"torch has no dtype for ONNX element type {node.attr('to')}")
    return x.to(dtype)


@torch_ops.register("CastLike")
def cast_like(node: Node, x, like):
    dtype = node.dtype(1)
    return x.to(dtype) if dtype is not None else node.call(runtime.cast_like, x, like)


@torch_ops.register("BitCast", since=26)
def bit_cast(node: Node, x):
    dtype = torch_dtype(node.attr("to"))
    if dtype is None:
        raise node.unsupported(f"torch has no dtype for ONNX element type {node.attr('to')}")
    return x.view(dtype)


@torch_ops.register("Binarizer", domain="ai.onnx.ml")
def binarizer(node: Node, x):
    return (x > node.attr("threshold", 0.0)).to(x.dtype)


@torch_ops.register("ArrayFeatureExtractor", domain="ai.onnx.ml")
def array_feature_extractor(node: Node, x, indices):
    return torch.index_select(x, -1, indices.reshape(-1)) if node.rank(0) > 1 else x[indices.reshape(-1)]
