"""Conv and ConvTranspose in 1, 2 and 3 spatial dims."""

from __future__ import annotations

import torch.nn.functional as F

from converter.targets.torch.node import Node
from converter.targets.torch.ops.padding import spatial_pads, torch_pad_order
from converter.targets.torch.registry import torch_ops

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _geometry(node: Node, weight_index: int = 1):
    kernel = node.attr("kernel_shape") or list((node.shape(weight_index) or ())[2:])
    if not kernel or None in kernel:
        raise node.unsupported("the kernel shape is unknown")
    if len(kernel) not in _CONV:
        raise node.unsupported(f"{len(kernel)} spatial dims")
    strides = node.attr("strides", [1] * len(kernel))
    dilations = node.attr("dilations", [1] * len(kernel))
    return kernel, strides, dilations


@torch_ops.register("Conv")
def conv(node: Node, x, w, b=None):
    kernel, strides, dilations = _geometry(node)
    group = node.attr("group", 1)
    pads = spatial_pads(node, kernel, strides, dilations)
    fn = _CONV[len(kernel)]
    if pads is None:
        return fn(x, w, b, strides, "same", dilations, group)
    begins, ends = pads
    if begins != ends:
        x = F.pad(x, torch_pad_order(begins, ends))
        begins = [0] * len(kernel)
    return fn(x, w, b, strides, begins, dilations, group)


@torch_ops.register("ConvTranspose")
def conv_transpose(node: Node, x, w, b=None):
    kernel, strides, dilations = _geometry(node)
    spatial = len(kernel)
    group = node.attr("group", 1)
    output_padding = list(node.attr("output_padding", [0] * spatial))
    output_shape = node.attr("output_shape")
    auto_pad = node.attr("auto_pad", "NOTSET")
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        dims = (node.shape(0) or [None] * (spatial + 2))[2:]
        if None in dims:
            raise node.unsupported("output_shape/auto_pad need static spatial dims")
        target = list(output_shape)[-spatial:] if output_shape else [d * s for d, s in zip(dims, strides, strict=False)]
        begins, ends = [], []
        for i in range(spatial):
            full = strides[i] * (dims[i] - 1) + output_padding[i] + (kernel[i] - 1) * dilations[i] + 1
            total = full - target[i]
            if total < 0:
                output_padding[i] -= total
                total = 0
            small, large = total // 2, total - total // 2
            upper = auto_pad != "SAME_LOWER"
            begins.append(small if upper else large)
            ends.append(large if upper else small)
    elif auto_pad == "VALID":
        begins, ends = [0] * spatial, [0] * spatial
    else:
        pads = node.attr("pads", [0] * 2 * spatial)
        begins, ends = list(pads[:spatial]), list(pads[spatial:])
    common = [min(p, q) for p, q in zip(begins, ends, strict=False)]
    y = _CONV_T[spatial](x, w, b, strides, common, output_padding, group, dilations)
    if common == begins == ends:
        return y
    crop = tuple(slice(p - c, (c - q) or None) for p, q, c in zip(begins, ends, common, strict=False))
    return y[(slice(None), slice(None)) + crop]


