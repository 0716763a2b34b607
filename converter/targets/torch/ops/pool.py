"""Max, average and Lp pooling, local and global, and MaxUnpool."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from converter.targets.torch.node import Node
from converter.targets.torch.ops.padding import spatial_pads, torch_pad_order
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import pool as run_pool

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _window(node: Node):
    kernel = node.attr("kernel_shape")
    if not kernel or len(kernel) not in _MAX:
        raise node.unsupported("kernel_shape must name 1 to 3 spatial dims")
    strides = node.attr("strides", [1] * len(kernel))
    dilations = node.attr("dilations", [1] * len(kernel))
    pads = spatial_pads(node, kernel, strides, dilations)
    if pads is None:
        raise node.unsupported("auto_pad needs static spatial dims")
    return kernel, strides, dilations, pads[0], pads[1]


@torch_ops.register("MaxPool")
def max_pool(node: Node, x):
    kernel, strides, dilations, begins, ends = _window(node)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    fits = begins == ends and all(p <= k // 2 for p, k in zip(begins, kernel, strict=False))
    if not fits:
        if node.output_used(1):
            raise node.unsupported("indices with asymmetric or large pads")
        x = F.pad(x, torch_pad_order(begins, ends), value=-math.inf)
        begins = [0] * len(kernel)
    if not node.output_used(1):
        return _MAX[len(kernel)](x, kernel, strides, begins, dilations, ceil_mode)
    if node.attr("storage_order", 0) and len(kernel) != 2:
        raise node.unsupported("storage_order=1 outside 2 spatial dims")
    y = _MAX[len(kernel)](x, kernel, strides, begins, dilations, ceil_mode, return_indices=True)
    return y[0], node.call(run_pool.max_pool_indices, y[1], x, node.attr("storage_order", 0))


@torch_ops.register("AveragePool")
def average_pool(node: Node, x):
    kernel, strides, dilations, begins, ends = _window(node)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    if any(d != 1 for d in dilations):
        return node.call(run_pool.dilated_avg_pool, x, kernel, strides, dilations, begins, ends, ceil_mode,
                         bool(node.attr("count_include_pad", 0)))
    include_pad = bool(node.attr("count_include_pad", 0))
    if begins == ends and all(p <= k // 2 for p, k in zip(begins, kernel, strict=False)):
        return _AVG[len(kernel)](x, kernel, strides, begins, ceil_mode, include_pad)
    pads = torch_pad_order(begins, ends)
    if include_pad:
        return _AVG[len(kernel)](F.pad(x, pads), kernel, strides, 0, ceil_mode, True)
    return node.call(run_pool.avg_pool_exclude_pad, x, kernel, strides, pads, ceil_mode)


@torch_ops.register("LpPool")
def lp_pool(node: Node, x):
    kernel, strides, dilations, begins, ends = _window(node)
    p = node.attr("p", 2)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    if any(d != 1 for d in dilations):
        mean = node.call(run_pool.dilated_avg_pool, torch.abs(x).pow(p), kernel, strides, dilations, begins, ends,
                         ceil_mode, True)
        return (mean * math.prod(kernel)).pow(1.0 / p)
    powered = F.pad(torch.abs(x).pow(p), torch_pad_order(begins, ends))
    mean = _AVG[len(kernel)](powered, kernel, strides, 0, ceil_mode, True)
    return (mean * math.prod(kernel)).pow(1.0 / p)


def _spatial(node: Node) -> tuple[int, ...]:
    return tuple(range(2, node.rank(0)))


@torch_ops.register("GlobalAveragePool")
def global_average_pool(node: Node, x):
    return torch.mean(x, dim=_spatial(node), keepdim=True)


@torch_ops.register("GlobalMaxPool")
def global_max_pool(node: Node, x):
    return torch.amax(x, dim=_spatial(node), keepdim=True)


@torch_ops.register("GlobalLpPool")
def global_lp_pool(node: Node, x):
    return torch.linalg.vector_norm(x, node.attr("p", 2), dim=_spatial(node), keepdim=True)


@torch_ops.register("MaxUnpool", since=9)
def max_unpool(node: Node, x, indices, output_shape=None):
    kernel = node.attr("kernel_shape")
    strides = node.attr("strides", [1] * len(kernel))
    pads = node.attr("pads", [0] * 2 * len(kernel))
    return node.call(run_pool.max_unpool, x, indices, output_shape, kernel, strides, pads)
