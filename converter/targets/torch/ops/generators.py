"""Ops that make tensors: Constant, ConstantOfShape, Range, EyeLike, OneHot."""

from __future__ import annotations

import numpy as np
import torch

from converter.targets.torch import dims as symbolic
from converter.targets.torch.dtypes import tensor_of, torch_dtype
from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import functions as runtime


@torch_ops.register("Constant")
def constant(node: Node):
    for key, dtype in [("value_float", np.float32), ("value_int", np.int64), ("value_floats", np.float32),
                       ("value_ints", np.int64)]:
        if key in node.attrs:
            return torch.from_numpy(np.asarray(node.attrs[key], dtype=dtype))
    value = node.attr("value")
    if not isinstance(value, np.ndarray) or value.dtype == object:
        raise node.unsupported("only numeric tensor values")
    return tensor_of(value)


@torch_ops.register("ConstantOfShape", dims=symbolic.constant_of_shape)
def constant_of_shape(node: Node, target):
    value = node.attr("value")
    fill = torch.zeros(1) if value is None else tensor_of(np.asarray(value))
    if is_traced(target):
        return node.call(runtime.constant_of_shape, target, fill)
    return torch.full(node.ints(target, "shape"), fill.reshape(()).item(), dtype=fill.dtype)


@torch_ops.register("Range", dims=symbolic.range_)
def range_(node: Node, start, limit, delta):
    if any(is_traced(v) for v in (start, limit, delta)):
        return node.call(runtime.arange, start, limit, delta)
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype)


@torch_ops.register("EyeLike")
def eye_like(node: Node, x):
    dtype = torch_dtype(node.attr("dtype")) if node.attr("dtype") is not None else node.dtype(0)
    return node.call(runtime.eye_like, x, node.attr("k", 0), dtype)


@torch_ops.register("OneHot")
def one_hot(node: Node, indices, depth, values):
    return node.call(runtime.one_hot, indices, depth, values, node.attr("axis", -1))
