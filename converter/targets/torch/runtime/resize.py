"""ONNX Resize semantics (every coordinate mode, nearest/linear/cubic), one axis at a time."""

from __future__ import annotations

import math

import torch

__all__ = ["resize"]


def _source(dst: torch.Tensor, size_in: int, size_out: int, scale: float, mode: str, roi: tuple[float, float]):
    """Source coordinate of every output index along one axis."""
    if mode == "half_pixel":
        return (dst + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = size_out / (scale * size_in)
        offset = size_in / 2 * (1 - adjustment)
        return offset + (dst + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (dst + 0.5) / scale - 0.5 if size_out > 1 else torch.full_like(dst, -0.5)
    if mode == "align_corners":
        return dst * (size_in - 1) / (size_out - 1) if size_out > 1 else torch.zeros_like(dst)
    if mode == "asymmetric":
        return dst / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        if size_out > 1:
            return start * (size_in - 1) + dst * (end - start) * (size_in - 1) / (size_out - 1)
        return torch.full_like(dst, 0.5 * (start + end) * (size_in - 1))
    raise ValueError(f"coordinate_transformation_mode {mode}")


def _nearest(src: torch.Tensor, rule: str) -> torch.Tensor:
    if rule == "floor":
        return torch.floor(src)
    if rule == "ceil":
        return torch.ceil(src)
    if rule == "round_prefer_ceil":
        return torch.floor(src + 0.5)
    return torch.ceil(src - 0.5)


def _cubic_weights(t: torch.Tensor, a: float) -> torch.Tensor:
    """Weights of the 4 neighbours at offsets -1, 0, 1, 2 for fractional positions t."""
    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return torch.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], -1)


def _antialiased(src: torch.Tensor, scale: float, mode: str, a: float):
    """Neighbours and weights of a downscaling filter stretched by 1/scale (ONNX antialias)."""
    start = math.floor((-1 if mode == "linear" else -2) / scale) + 1
    offsets = torch.arange(start, 2 - start, dtype=torch.float64, device=src.device)
    whole = src == torch.floor(src)
    base = torch.where(whole, src - 1, torch.floor(src))
    ratio = torch.where(whole, torch.ones_like(src), src - torch.floor(src))
    distance = ((offsets[None, :] - ratio[:, None]) * scale).abs()
    if mode == "linear":
        weights = (1 - distance).clamp(0, 1)
    else:
        near = ((a + 2) * distance - (a + 3)) * distance * distance + 1
        far = ((a * distance - 5 * a) * distance + 8 * a) * distance - 4 * a
        weights = torch.where(distance <= 1, near, torch.where(distance < 2, far, torch.zeros_like(distance)))
    return (base[:, None] + offsets[None, :]).long(), weights / weights.sum(-1, keepdim=True)


def _along(x, axis, size_out, scale, options, roi) -> torch.Tensor:
    size_in = x.shape[axis]
    dst = torch.arange(size_out, dtype=torch.float64, device=x.device)
    src = _source(dst, size_in, size_out, scale, options["ctm"], roi)
    mode = options["mode"]
    if options.get("antialias") and mode != "nearest" and scale < 1:
        indices, weights = _antialiased(src, scale, mode, options["cubic_coeff_a"])
        if options["exclude_outside"]:
            weights = weights * ((indices >= 0) & (indices < size_in))
            weights = weights / weights.sum(-1, keepdim=True)
    elif mode == "nearest":
        index = _nearest(src, options["nearest_mode"]).long().clamp(0, size_in - 1)
        weights, indices = torch.ones(size_out, 1, dtype=torch.float64, device=x.device), index[:, None]
    elif mode == "linear":
        base = torch.floor(src)
        frac = src - base
        indices = torch.stack([base, base + 1], -1).long()
        weights = torch.stack([1 - frac, frac], -1)
        if options["ctm"] != "tf_crop_and_resize":
            left = torch.tensor([1.0, 0.0], dtype=torch.float64, device=x.device)
            weights = torch.where(src[:, None] < 0, left, weights)
    else:
        base = torch.floor(src)
        indices = (base[:, None] + torch.arange(-1, 3, device=x.device)).long()
        weights = _cubic_weights(src - base, options["cubic_coeff_a"])
        if options["exclude_outside"]:
            weights = weights * ((indices >= 0) & (indices < size_in))
            weights = weights / weights.sum(-1, keepdim=True)
    clamped = indices.clamp(0, size_in - 1)
    gathered = x.index_select(axis, clamped.reshape(-1))
    shape = list(x.shape)
    shape[axis:axis + 1] = [size_out, indices.shape[1]]
    gathered = gathered.reshape(shape)
    view = [1] * len(shape)
    view[axis:axis + 2] = list(weights.shape)
    out = (gathered.to(torch.float64) * weights.reshape(view)).sum(axis + 1)
    if options["ctm"] == "tf_crop_and_resize":
        outside = (src < 0) | (src > size_in - 1)
        mask_view = [1] * x.dim()
        mask_view[axis] = size_out
        out = torch.where(outside.reshape(mask_view), options["extrapolation_value"], out)
    if mode == "nearest":
        return out.to(x.dtype)
    return out.round().to(x.dtype) if not x.dtype.is_floating_point else out.to(x.dtype)


def resize(x: torch.Tensor, roi, scales, sizes, options: dict) -> torch.Tensor:
    """Resize `x` per ONNX; `scales` / `sizes` / `roi` cover `options['axes']` (all axes when None)."""
    rank = x.dim()
    axes = [a % rank for a in options.get("axes") or range(rank)]
    roi_list = [float(v) for v in roi.reshape(-1).tolist()] if roi is not None and roi.numel() else []
    scale_list = [float(v) for v in scales.reshape(-1).tolist()] if scales is not None and scales.numel() else []
    size_list = [int(v) for v in sizes.reshape(-1).tolist()] if sizes is not None and sizes.numel() else []
    if size_list and options.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        ratios = [size_list[i] / x.shape[a] for i, a in enumerate(axes)]
        ratio = min(ratios) if options["keep_aspect_ratio_policy"] == "not_larger" else max(ratios)
        size_list = [int(math.floor(x.shape[a] * ratio + 0.5)) for a in axes]
        scale_list = [ratio] * len(axes)
    for i, axis in enumerate(axes):
        size_in = x.shape[axis]
        roi_pair = (roi_list[i], roi_list[i + len(axes)]) if roi_list else (0.0, 1.0)
        if size_list:
            size_out = size_list[i]
            scale = scale_list[i] if scale_list else size_out / size_in
        else:
            scale = scale_list[i]
            size_out = int(math.floor(size_in * scale * (roi_pair[1] - roi_pair[0])
                                      if options["ctm"] == "tf_crop_and_resize" else size_in * scale))
        if size_out == size_in and scale == 1.0 and options["ctm"] != "tf_crop_and_resize":
            continue
        x = _along(x, axis, size_out, scale, options, roi_pair)
    return x
