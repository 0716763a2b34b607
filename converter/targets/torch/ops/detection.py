"""Detection and image reshaping ops: NonMaxSuppression, Col2Im."""

from __future__ import annotations

from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import detection as run_detection


@torch_ops.register("NonMaxSuppression", since=10)
def non_max_suppression(node: Node, boxes, scores, max_boxes=None, iou_threshold=None, score_threshold=None):
    return node.call(run_detection.non_max_suppression, boxes, scores, max_boxes, iou_threshold, score_threshold,
                     node.attr("center_point_box", 0))


@torch_ops.register("Col2Im", since=18)
def col2im(node: Node, x, image_shape, block_shape):
    spatial = len(node.ints(block_shape, "block_shape")) if not is_traced(block_shape) else node.shape(2)[0]
    if spatial != 2:
        raise node.unsupported(f"{spatial} spatial dims (only 2)")
    pads = node.attr("pads", [0] * 4)
    if pads[:2] != pads[2:]:
        raise node.unsupported("asymmetric pads")
    return node.call(run_detection.col2im, x, image_shape, block_shape, node.attr("dilations", [1, 1]), pads,
                     node.attr("strides", [1, 1]))


