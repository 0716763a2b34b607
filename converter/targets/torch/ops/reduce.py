"""Reductions (axes as attribute in older opsets, as input in ReduceSum 13+ and others 18+) and CumSum/CumProd."""

from __future__ import annotations

import math

import torch

from converter.targets.torch import dims as symbolic
from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import functions as runtime


def _sum(x, dims, keep):
    return torch.sum(x, dim=dims, keepdim=keep)


def _prod(x, dims, keep):
    for dim in sorted(dims, reverse=True):
        x = torch.prod(x, dim=dim, keepdim=keep)
    return x


_REDUCERS = {
    "ReduceSum": _sum,
    "ReduceMean": lambda x, dims, keep: torch.mean(x, dim=dims, keepdim=keep),
    "ReduceMax": lambda x, dims, keep: torch.amax(x, dim=dims, keepdim=keep),
    "ReduceMin": lambda x, dims, keep: torch.amin(x, dim=dims, keepdim=keep),
    "ReduceProd": _prod,
    "ReduceL1": lambda x, dims, keep: torch.sum(torch.abs(x), dim=dims, keepdim=keep),
    "ReduceL2": lambda x, dims, keep: torch.sqrt(torch.sum(x * x, dim=dims, keepdim=keep)),
    "ReduceLogSum": lambda x, dims, keep: torch.log(torch.sum(x, dim=dims, keepdim=keep)),
    "ReduceLogSumExp": lambda x, dims, keep: torch.logsumexp(x, dim=dims, keepdim=keep),
    "ReduceSumSquare": lambda x, dims, keep: torch.sum(x * x, dim=dims, keepdim=keep),
}
_AXES_INPUT_SINCE = {op: 18 for op in _REDUCERS} | {"ReduceSum": 13}


def _reduce(op: str, axes_as_input: bool):
    reducer = _REDUCERS[op]

    def handler(node: Node, x, axes=None):
        dims = (node.ints(axes, "axes") if axes is not None else []) if axes_as_input else node.attr("axes", [])
        if not dims:
            if node.attr("noop_with_empty_axes", 0):
                return x
            dims = list(range(node.rank(0)))
        keep = bool(node.attr("keepdims", 1))
        empty = _empty_reduction(node, op, dims, keep)
        if empty is not None:
            return empty
        y = reducer(x, tuple(dims), bool(node.attr("keepdims", 1)))
        dtype = node.dtype(0)
        return y.to(dtype) if op in ("ReduceSum", "ReduceProd", "ReduceSumSquare") and dtype is not None else y

    return handler


def _empty_reduction(node: Node, op: str, dims: list[int], keep: bool):
    """The identity of ReduceMax/ReduceMin/ReduceLogSumExp over a statically empty axis (torch refuses it)."""
    shape = node.static_shape(0)
    fills = {"ReduceMax": -math.inf, "ReduceMin": math.inf, "ReduceLogSumExp": -math.inf}
    if op not in fills or shape is None or not any(shape[d] == 0 for d in dims):
        return None
    rank = len(shape)
    normalized = {d % rank for d in dims}
    out = [1 if i in normalized else n for i, n in enumerate(shape) if keep or i not in normalized]
    dtype = node.dtype(0) or torch.float32
    if not dtype.is_floating_point:
        limits = torch.iinfo(dtype)
        return torch.full(out, limits.min if fills[op] < 0 else limits.max, dtype=dtype)
    fill = fills[op]
    return torch.full(out, fill, dtype=dtype)


for _op, _since in _AXES_INPUT_SINCE.items():
    _dims = symbolic.reduce_prod if _op == "ReduceProd" else None  # the rows a Reshape flattens, as a size
    torch_ops.register(_op, dims=_dims)(_reduce(_op, False))
    torch_ops.register(_op, since=_since, dims=_dims)(_reduce(_op, True))


@torch_ops.register("CumSum")
def cum_sum(node: Node, x, axis):
    if not is_traced(axis) and not node.attr("exclusive", 0) and not node.attr("reverse", 0):
        return torch.cumsum(x, int(axis))
    return node.call(runtime.cumsum, x, axis, node.attr("exclusive", 0), node.attr("reverse", 0))


@torch_ops.register("CumProd", since=26)
def cum_prod(node: Node, x, axis):
    return node.call(runtime.cumprod, x, axis, node.attr("exclusive", 0), node.attr("reverse", 0))
