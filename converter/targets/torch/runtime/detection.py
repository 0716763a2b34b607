"""Run-time detection and image kernels without a single torch call: NonMaxSuppression, Col2Im."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["non_max_suppression", "col2im"]


def _corners(boxes: torch.Tensor, center_point_box: int) -> torch.Tensor:
    """[N, 4] boxes as (x_min, y_min, x_max, y_max)."""
    if center_point_box:
        x, y, w, h = boxes.unbind(-1)
        return torch.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], -1)
    y1, x1, y2, x2 = boxes.unbind(-1)
    return torch.stack([torch.minimum(x1, x2), torch.minimum(y1, y2), torch.maximum(x1, x2), torch.maximum(y1, y2)], -1)


def _iou(box: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    low = torch.maximum(box[:2], others[:, :2])
    high = torch.minimum(box[2:], others[:, 2:])
    inter = (high - low).clamp(min=0).prod(-1)
    area = (box[2:] - box[:2]).prod()
    areas = (others[:, 2:] - others[:, :2]).prod(-1)
    union = area + areas - inter
    return torch.where((inter > 0) & (area > 0) & (areas > 0) & (union > 0), inter / union, torch.zeros_like(inter))


def non_max_suppression(boxes, scores, max_boxes=None, iou_threshold=None, score_threshold=None,
                        center_point_box: int = 0) -> torch.Tensor:
    """ONNX NonMaxSuppression: [selected, 3] rows of (batch, class, box), by class then descending score."""
    limit = int(max_boxes.reshape(-1)[0]) if max_boxes is not None and max_boxes.numel() else 0
    iou_limit = float(iou_threshold.reshape(-1)[0]) if iou_threshold is not None and iou_threshold.numel() else 0.0
    selected: list[tuple[int, int, int]] = []
    for b in range(boxes.shape[0]):
        corners = _corners(boxes[b].double(), center_point_box)
        for c in range(scores.shape[1]):
            class_scores = scores[b, c]
            order = torch.sort(class_scores, descending=True, stable=True).indices
            if score_threshold is not None and score_threshold.numel():
                order = order[class_scores[order] > score_threshold.reshape(-1)[0]]
            kept: list[int] = []
            for index in order.tolist():
                if len(kept) >= limit:
                    break
                if kept and bool((_iou(corners[index], corners[kept]) > iou_limit).any()):
                    continue
                kept.append(index)
                selected.append((b, c, index))
    return torch.tensor(selected, dtype=torch.int64, device=boxes.device).reshape(-1, 3)


def col2im(x: torch.Tensor, image_shape, block_shape, dilations, pads, strides) -> torch.Tensor:
    """ONNX Col2Im for 2 spatial dims, through F.fold (symmetric pads)."""
    image, block = [int(v) for v in image_shape.tolist()], [int(v) for v in block_shape.tolist()]
    padding = [int(p) for p in pads[: len(pads) // 2]]
    return F.fold(x, image, block, dilation=dilations, padding=padding, stride=strides)


