"""Handlers that keep Dims (symbolic shape values) symbolic; None means: materialize and use the usual one."""

from __future__ import annotations

import operator
from dataclasses import replace
from typing import Any

import torch

from converter.targets.torch.dims import Dims, materialize
from converter.targets.torch.node import Node, is_traced

__all__ = ["DIMS_HANDLERS"]


def _items(node: Node, value: Any) -> tuple[list[Any], bool] | None:
    """(items, scalar) of a Dims or a small constant int tensor; None for anything else."""
    if isinstance(value, Dims):
        return value.as_list(), value.scalar
    if isinstance(value, torch.Tensor) and not value.dtype.is_floating_point and value.dim() <= 1:
        return [int(v) for v in value.reshape(-1).tolist()], value.dim() == 0
    return None


def _gather(node: Node, data, indices):
    if node.attr("axis", 0) != 0 or is_traced(indices) or not isinstance(data, Dims):
        return None
    picked = [data.items[int(i)] for i in indices.reshape(-1).tolist()]
    return replace(data, items=tuple(picked), scalar=indices.dim() == 0)


def _unsqueeze(node: Node, data, axes=None):
    return replace(data, scalar=False) if isinstance(data, Dims) and data.scalar else None


def _squeeze(node: Node, data, axes=None):
    if not isinstance(data, Dims) or data.scalar or len(data.items) != 1:
        return None
    return replace(data, scalar=True)


def _concat(node: Node, *parts):
    items: list[Any] = []
    for part in parts:
        got = _items(node, part)
        if got is None or got[1]:
            return None
        items += got[0]
    return Dims(tuple(items), source=next((p.source for p in parts if isinstance(p, Dims)), None))


def _slice(node: Node, data, starts, ends, axes=None, steps=None):
    if not isinstance(data, Dims) or any(is_traced(v) or isinstance(v, Dims) for v in (starts, ends, axes, steps)):
        return None
    step = 1 if steps is None else int(steps.reshape(-1)[0])
    return replace(data, items=tuple(data.items[int(starts.reshape(-1)[0]) : int(ends.reshape(-1)[0]) : step]))


def _same(node: Node, data, *rest):
    if not isinstance(data, Dims):
        return None
    return data if node.op_type != "Cast" or node.attr("to") in (6, 7) else None


def _arithmetic(fn):
    def handler(node: Node, a, b):
        left, right = _items(node, a), _items(node, b)
        if left is None or right is None or len(left[0]) != len(right[0]) and 1 not in (len(left[0]), len(right[0])):
            return None
        n = max(len(left[0]), len(right[0]))
        xs = left[0] * n if len(left[0]) == 1 else left[0]
        ys = right[0] * n if len(right[0]) == 1 else right[0]
        source = next((v.source for v in (a, b) if isinstance(v, Dims)), None)
        return Dims(tuple(fn(x, y) for x, y in zip(xs, ys, strict=True)), left[1] and right[1], source)

    return handler


def _reshape(node: Node, x, target):
    if isinstance(x, Dims):
        if not isinstance(target, torch.Tensor):
            return None
        dims = [int(d) for d in target.reshape(-1).tolist()]
        return replace(x, scalar=not dims) if dims in ([], [-1], [1], [len(x.items)]) else None
    if not isinstance(target, Dims):
        return None
    zeros = [isinstance(d, int) and d == 0 for d in target.items]
    if node.attr("allowzero", 0) and any(zeros):
        return None
    return x.reshape([x.size(i) if zero else d for i, (zero, d) in enumerate(zip(zeros, target.items, strict=True))])


def _expand(node: Node, x, target):
    if isinstance(x, Dims):
        if not x.known:
            return None
        x = materialize(x)
    shape = tuple(x.shape) if isinstance(x, torch.Tensor) else node.shape(0)
    if not isinstance(target, Dims) or shape is None or len(shape) > len(target.items):
        return None
    offset = len(target.items) - len(shape)
    sizes = [d if i < offset or shape[i - offset] == 1 else -1 for i, d in enumerate(target.items)]
    if any(isinstance(d, int) and d == 1 for d in target.items[offset:]):
        return None
    return x.expand(sizes)


def _constant_of_shape(node: Node, target):
    if not isinstance(target, Dims) or target.scalar:
        return None
    value = node.attr("value")
    fill = torch.zeros(1) if value is None else torch.from_numpy(value.copy())
    return torch.full(target.as_list(), fill.reshape(()).item(), dtype=fill.dtype)


DIMS_HANDLERS = {
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": _concat,
    "Slice": _slice,
    "Cast": _same,
    "Identity": _same,
    "Add": _arithmetic(operator.add),
    "Sub": _arithmetic(operator.sub),
    "Mul": _arithmetic(operator.mul),
    "Div": _arithmetic(operator.floordiv),
    "Reshape": _reshape,
    "Expand": _expand,
    "ConstantOfShape": _constant_of_shape,
}
