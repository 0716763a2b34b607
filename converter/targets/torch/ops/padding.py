"""ONNX pads / auto_pad for convolution and pooling: resolve to begin/end pads and torch's pad order."""

from __future__ import annotations

from converter.targets.torch.node import Node

__all__ = ["spatial_pads", "torch_pad_order"]


def spatial_pads(node: Node, kernel: list[int], strides: list[int], dilations: list[int]):
    """(begins, ends) per spatial dim, or None for torch's padding='same' when dims are unknown."""
    spatial = len(kernel)
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return [0] * spatial, [0] * spatial
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        shape = node.shape(0)
        dims = shape[2:] if shape is not None else [None] * spatial
        if None in dims:
            if all(s == 1 for s in strides) and auto_pad == "SAME_UPPER":
                return None
            raise node.unsupported(f"auto_pad={auto_pad} needs static spatial dims")
        begins, ends = [], []
        for size, k, s, d in zip(dims, kernel, strides, dilations, strict=False):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else large)
            ends.append(large if auto_pad == "SAME_UPPER" else small)
        return begins, ends
    pads = node.attr("pads", [0] * 2 * spatial)
    return list(pads[:spatial]), list(pads[spatial:])


def torch_pad_order(begins: list[int], ends: list[int]) -> list[int]:
    """F.pad's order: last dim first, (begin, end) pairs."""
    order: list[int] = []
    for begin, end in zip(reversed(begins), reversed(ends), strict=False):
        order += [begin, end]
    return order
