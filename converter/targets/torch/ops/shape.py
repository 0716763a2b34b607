"""Shape manipulation: Shape, Size, Reshape, Flatten, Transpose, (Un)Squeeze, Expand, Concat, Split, Tile."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from converter.targets.torch import dims as symbolic
from converter.targets.torch.dims import Dims
from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import functions as runtime


@torch_ops.register("Shape")
def shape(node: Node, x):
    start, end = node.attr("start", 0), node.attr("end")
    static = node.static_shape(0)
    if static is not None:
        return torch.tensor(static[start:end], dtype=torch.int64)
    known = node.shape(0)
    if known is None:
        return node.call(runtime.shape, x, start, end)
    return Dims(tuple(d if d is not None else x.size(i) for i, d in enumerate(known))[start:end], source=x)


@torch_ops.register("Size")
def size(node: Node, x):
    static = node.static_shape(0)
    if static is not None:
        return torch.tensor(int(torch.tensor(static).prod()), dtype=torch.int64)
    return node.call(runtime.size, x)


@torch_ops.register("Reshape", since=5, dims=symbolic.reshape)
def reshape(node: Node, x, target):
    allowzero = node.attr("allowzero", 0)
    if is_traced(target):
        return node.call(runtime.reshape, x, target, allowzero)
    dims = node.ints(target, "shape")
    if not allowzero and 0 in dims:
        known = node.shape(0) or ()
        if any(d == 0 and i >= len(known) for i, d in enumerate(dims)) and is_traced(x):
            return node.call(runtime.reshape, x, dims, allowzero)
        dims = [_size(x, known, i) if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _size(x, known, index: int):
    """Dim `index` of x: the int when known before running, else `x.size(index)` (symbolic under export)."""
    return known[index] if index < len(known) and known[index] is not None else x.size(index)


@torch_ops.register("Flatten")
def flatten(node: Node, x):
    axis = node.attr("axis", 1)
    if axis == 1 and node.shape(0) is not None and node.rank(0) >= 2:
        return torch.flatten(x, 1)
    return node.call(runtime.flatten, x, axis)


@torch_ops.register("Transpose")
def transpose(node: Node, x):
    perm = node.attr("perm") or list(reversed(range(node.rank(0))))
    return x.permute(perm)


def _axes(node: Node, axes) -> list[int] | None:
    if axes is None:
        return node.attr("axes")
    return node.ints(axes, "axes")


@torch_ops.register("Squeeze", dims=symbolic.squeeze)
def squeeze(node: Node, x, axes=None):
    dims = _axes(node, axes)
    return x.squeeze() if not dims else x.squeeze(tuple(dims))


@torch_ops.register("Unsqueeze", dims=symbolic.unsqueeze)
def unsqueeze(node: Node, x, axes=None):
    dims = _axes(node, axes)
    out_rank = node.rank(0) + len(dims) if any(d < 0 for d in dims) else 0
    for dim in sorted(d % out_rank if d < 0 else d for d in dims):
        x = x.unsqueeze(dim)
    return x


@torch_ops.register("Expand", dims=symbolic.expand)
def expand(node: Node, x, target):
    static = node.static_shape(0)
    if is_traced(target) or static is None:
        return node.call(runtime.expand, x, target)
    return x.expand(torch.broadcast_shapes(static, tuple(node.ints(target, "shape"))))


@torch_ops.register("Concat", dims=symbolic.concat)
def concat(node: Node, *xs):
    return torch.cat(list(xs), dim=node.attr("axis"))


@torch_ops.register("Split")
def split(node: Node, x, sizes=None):
    axis = node.attr("axis", 0)
    sizes = node.attr("split") if sizes is None else node.ints(sizes, "split")
    count = node.num_outputs
    if not sizes:
        known = node.shape(0)
        length = known[axis] if known is not None else None
        if length is None:
            raise node.runtime_only("equal split of a dim of unknown length")
        chunk = -(-length // node.attr("num_outputs", count))
        sizes = [min(chunk, length - i * chunk) for i in range(count)]
    parts = torch.split(x, list(sizes), dim=axis)
    return tuple(parts[i] for i in range(count))


@torch_ops.register("Tile")
def tile(node: Node, x, repeats):
    if is_traced(repeats):
        return node.call(runtime.tile, x, repeats)
    return x.repeat(node.ints(repeats, "repeats"))


@torch_ops.register("DepthToSpace")
def depth_to_space(node: Node, x):
    if node.attr("mode", "DCR") == "CRD":
        return F.pixel_shuffle(x, node.attr("blocksize"))
    return node.call(runtime.depth_to_space, x, node.attr("blocksize"), "DCR")


@torch_ops.register("SpaceToDepth")
def space_to_depth(node: Node, x):
    return node.call(runtime.space_to_depth, x, node.attr("blocksize"), node.attr("mode", "DCR"))
