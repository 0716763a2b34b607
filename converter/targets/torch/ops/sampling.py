"""Spatial sampling: GridSample."""

from __future__ import annotations

import torch.nn.functional as F

from converter.targets.torch.node import Node
from converter.targets.torch.registry import torch_ops

__all__: list[str] = []


_GRID_MODES = {"linear": "bilinear", "bilinear": "bilinear", "nearest": "nearest", "cubic": "bicubic",
               "bicubic": "bicubic"}


@torch_ops.register("GridSample")
def grid_sample(node: Node, x, grid):
    mode = _GRID_MODES[node.attr("mode", "bilinear" if node.opset < 20 else "linear")]
    return F.grid_sample(x, grid, mode, node.attr("padding_mode", "zeros"), bool(node.attr("align_corners", 0)))
