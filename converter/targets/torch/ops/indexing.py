"""Indexing: Slice, Gather*, Scatter*, TopK, ArgMax/ArgMin, Trilu, NonZero, Compress, ReverseSequence, Unique, Pad."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from converter.targets.torch import dims as symbolic
from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import functions as runtime

_INT64_MAX = 2**63 - 1


@torch_ops.register("Slice", dims=symbolic.slice_)
def slice_1(node: Node, x):
    starts, ends = node.attr("starts"), node.attr("ends")
    return _slice(node, x, starts, ends, node.attr("axes"), None)


@torch_ops.register("Slice", since=10, dims=symbolic.slice_)
def slice_10(node: Node, x, starts, ends, axes=None, steps=None):
    args = [starts, ends, axes, steps]
    if any(is_traced(a) for a in args):
        return node.call(runtime.slice_, x, *args)
    return _slice(node, x, *[None if a is None else node.ints(a, "slice bounds") for a in args])


def _slice(node: Node, x, starts, ends, axes, steps):
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if any(s < 0 for s in steps) or any(a < 0 for a in axes) and node.shape(0) is None:
        return node.call(runtime.slice_, x, starts, ends, axes, steps)
    rank = node.rank(0)
    index = [slice(None)] * rank
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
        index[axis % rank] = slice(start, min(end, _INT64_MAX), step)
    while index and index[-1] == slice(None):
        index.pop()
    return x[tuple(index)] if index else x


@torch_ops.register("Gather", dims=symbolic.gather)
def gather(node: Node, x, indices):
    axis = node.attr("axis", 0)
    if not is_traced(indices) and indices.dim() == 0 and axis >= 0:
        return torch.select(x, axis, int(indices))
    if axis < 0:
        axis += node.rank(0)
    return x[(slice(None),) * axis + (indices,)]


@torch_ops.register("GatherElements")
def gather_elements(node: Node, x, indices):
    return node.call(runtime.gather_elements, x, indices, node.attr("axis", 0))


@torch_ops.register("GatherND")
def gather_nd(node: Node, x, indices):
    return node.call(runtime.gather_nd, x, indices, node.attr("batch_dims", 0))


_REDUCTIONS = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


@torch_ops.register("ScatterElements")
def scatter_elements(node: Node, x, indices, updates):
    axis, reduction = node.attr("axis", 0), node.attr("reduction", "none")
    index = node.call(runtime.gather_index, x, indices, axis)
    if reduction == "none":
        return torch.scatter(x, axis, index, updates)
    return torch.scatter_reduce(x, axis, index, updates, _REDUCTIONS[reduction], include_self=True)


torch_ops.register("Scatter")(scatter_elements)


@torch_ops.register("ScatterND")
def scatter_nd(node: Node, x, indices, updates):
    return node.call(runtime.scatter_nd, x, indices, updates, node.attr("reduction", "none"))


@torch_ops.register("TopK")
def top_k_1(node: Node, x):
    return _top_k(node, x, node.attr("k"))


@torch_ops.register("TopK", since=10)
def top_k(node: Node, x, k):
    return _top_k(node, x, node.ints(k, "k")[0])


def _top_k(node: Node, x, k: int):
    result = node.call(runtime.top_k, x, k, node.attr("axis", -1), bool(node.attr("largest", 1)))
    return result[0], result[1]


def _arg(largest: bool):
    def handler(node: Node, x):
        axis, keepdims = node.attr("axis", 0), node.attr("keepdims", 1)
        if node.attr("select_last_index", 0):
            return node.call(runtime.arg_last, x, axis, keepdims, largest)
        fn = torch.argmax if largest else torch.argmin
        return fn(x, dim=axis, keepdim=bool(keepdims))

    return handler


torch_ops.register("ArgMax")(_arg(True))
torch_ops.register("ArgMin")(_arg(False))


@torch_ops.register("Trilu")
def trilu(node: Node, x, k=None):
    diagonal = 0 if k is None else node.ints(k, "k")[0]
    return torch.triu(x, diagonal) if node.attr("upper", 1) else torch.tril(x, diagonal)


@torch_ops.register("NonZero")
def non_zero(node: Node, x):
    return torch.nonzero(x).t()


@torch_ops.register("Compress")
def compress(node: Node, x, condition):
    return node.call(runtime.compress, x, condition, node.attr("axis"))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


@torch_ops.register("ReverseSequence", since=10)
def reverse_sequence(node: Node, x, lengths):
    return node.call(runtime.reverse_sequence, x, lengths, node.attr("batch_axis", 1), node.attr("time_axis", 0))


@torch_ops.register("Unique", since=11)
def unique(node: Node, x):
    result = node.call(runtime.unique, x, node.attr("axis"), node.attr("sorted", 1))
    return tuple(result[i] for i in range(4))[: node.num_outputs]


@torch_ops.register("TensorScatter", since=24)
def tensor_scatter(node: Node, cache, update, write_indices=None):
    circular = node.attr("mode", "linear") == "circular"
    return node.call(runtime.tensor_scatter, cache, update, write_indices, node.attr("axis", -2), circular)


@torch_ops.register("Pad")
def pad_2(node: Node, x):
    return _pad(node, x, node.attr("pads"), node.attr("value", 0.0))


@torch_ops.register("Pad", since=11)
def pad(node: Node, x, pads, value=None, axes=None):
    if axes is not None:
        rank, named = node.rank(0), node.ints(axes, "axes")
        given = node.ints(pads, "pads")
        full = [0] * (2 * rank)
        for i, axis in enumerate(named):
            full[axis % rank], full[axis % rank + rank] = given[i], given[i + len(named)]
        pads = full
    return _pad(node, x, pads, 0 if value is None else value)


def _pad(node: Node, x, pads, value):
    mode = _PAD_MODES[node.attr("mode", "constant")]
    if mode != "constant" or is_traced(pads) or is_traced(value):
        return node.call(runtime.pad, x, pads, mode, value)
    pads = node.ints(pads, "pads")
    rank = len(pads) // 2
    order = [p for axis in reversed(range(rank)) for p in (pads[axis], pads[axis + rank])]
    while order[-2:] == [0, 0]:
        order = order[:-2]
    fill = value.item() if isinstance(value, torch.Tensor) else value
    if abs(fill) < 2**53:
        fill = float(fill)  # TorchScript's F.pad takes a float value; ints this small convert exactly
    return F.pad(x, order, "constant", fill) if order else x
