"""Resize and Upsample: F.interpolate where it means the same, else the general ONNX semantics."""

from __future__ import annotations

import torch.nn.functional as F

from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import resize as run_resize

_TORCH_LINEAR = {3: "linear", 4: "bilinear", 5: "trilinear"}


def _options(node: Node) -> dict:
    return {
        "mode": node.attr("mode", "nearest"),
        "antialias": node.attr("antialias", 0),
        "ctm": node.attr("coordinate_transformation_mode", "half_pixel" if node.opset >= 11 else "asymmetric"),
        "nearest_mode": node.attr("nearest_mode", "round_prefer_floor"),
        "cubic_coeff_a": node.attr("cubic_coeff_a", -0.75),
        "exclude_outside": node.attr("exclude_outside", 0),
        "extrapolation_value": node.attr("extrapolation_value", 0.0),
        "axes": node.attr("axes"),
        "keep_aspect_ratio_policy": node.attr("keep_aspect_ratio_policy", "stretch"),
    }


def _interpolate(node: Node, x, scales, sizes, options: dict):
    """F.interpolate for the common exporter patterns, or None when its semantics differ."""
    rank = len(node.shape(0) or ())
    if options["axes"] is not None or rank not in _TORCH_LINEAR or any(is_traced(v) for v in (scales, sizes)):
        return None
    if options["keep_aspect_ratio_policy"] != "stretch" or options["antialias"]:
        return None
    size_list = node.ints(sizes, "sizes") if sizes is not None and sizes.numel() else None
    factors = [float(v) for v in scales.reshape(-1).tolist()] if scales is not None and scales.numel() else None
    if size_list is not None:
        if size_list[:2] != list((node.shape(0) or (None, None))[:2]):
            return None
        kwargs = {"size": size_list[2:]}
    elif factors is not None and factors[:2] == [1.0, 1.0]:
        kwargs = {"scale_factor": factors[2:]}
    else:
        return None
    mode, ctm = options["mode"], options["ctm"]
    if mode == "nearest" and ctm == "asymmetric" and options["nearest_mode"] == "floor":
        return F.interpolate(x, mode="nearest", **kwargs)
    # half_pixel and torch's align_corners=False agree for linear: both clamp at the edges
    if mode == "linear" and ctm in ("align_corners", "pytorch_half_pixel", "half_pixel"):
        return F.interpolate(x, mode=_TORCH_LINEAR[rank], align_corners=ctm == "align_corners", **kwargs)
    return None


@torch_ops.register("Resize", since=10)
def resize(node: Node, x, roi=None, scales=None, sizes=None):
    if node.opset < 11:
        roi, scales, sizes = None, roi, None
    options = _options(node)
    fast = _interpolate(node, x, scales, sizes, options)
    if fast is not None:
        return fast
    return node.call(run_resize.resize, x, roi, scales, sizes, options)


@torch_ops.register("Upsample", since=7)
def upsample(node: Node, x, scales=None):
    options = _options(node) | {"ctm": "asymmetric", "nearest_mode": "floor"}
    if scales is None:
        import torch

        scales = torch.tensor(node.attr("scales"))
    return node.call(run_resize.resize, x, None, scales, None, options)
