"""Resize and Upsample as separable per-axis gathers, following ONNX's coordinate rules exactly."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.ops.common import static, static_ints
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _source_coords(node: Node, mode: str, out: int, size: int, scale: float, roi) -> np.ndarray:
    x = np.arange(out, dtype=np.float32)
    scale = np.float32(scale)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = np.float32(out) / (scale * size)
        offset = np.float32(size) / 2 * (1 - adjustment)
        return offset + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out > 1 else np.zeros_like(x)
    if mode == "align_corners":
        return x * np.float32(size - 1) / np.float32(out - 1) if out > 1 else np.zeros_like(x)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        if out > 1:
            return start * (size - 1) + x * (end - start) * (size - 1) / (out - 1)
        return np.full_like(x, 0.5 * (start + end) * (size - 1))
    raise node.unsupported(f"coordinate_transformation_mode '{mode}'")


def _nearest(node: Node, coords: np.ndarray) -> np.ndarray:
    mode = node.attr("nearest_mode", "round_prefer_floor")
    rounding = {
        "round_prefer_floor": lambda c: np.ceil(c - 0.5),
        "round_prefer_ceil": lambda c: np.floor(c + 0.5),
        "floor": np.floor,
        "ceil": np.ceil,
    }
    if mode not in rounding:
        raise node.unsupported(f"nearest_mode '{mode}'")
    return rounding[mode](coords).astype(np.int64)


def _taps(node: Node, kind: str, coords: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output position: source indices (out, taps) and weights (out, taps)."""
    if kind == "nearest":
        return _nearest(node, coords)[:, None], np.ones([len(coords), 1], np.float32)
    base = np.floor(coords)
    t = (coords - base).astype(np.float32)
    if kind == "linear":
        index = np.stack([base, base + 1], 1).astype(np.int64)
        weights = np.stack([1 - t, t], 1)
    else:
        a = np.float32(node.attr("cubic_coeff_a", -0.75))
        index = np.stack([base - 1, base, base + 1, base + 2], 1).astype(np.int64)
        d = np.stack([t + 1, t, 1 - t, 2 - t], 1)
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        weights = np.where(d <= 1, near, far).astype(np.float32)
        if node.attr("exclude_outside", 0):
            weights = np.where((index < 0) | (index >= size), 0, weights)
            weights = weights / weights.sum(1, keepdims=True)
    return index, weights


def _resize_axis(node: Node, x, axis: int, out: int, scale: float, kind: str, mode: str, roi):
    size = int(x.shape[axis])
    coords = _source_coords(node, mode, out, size, scale, roi)
    index, weights = _taps(node, kind, coords, size)
    outside = (coords < 0) | (coords > size - 1) if mode == "tf_crop_and_resize" else None
    gathered = tf.gather(x, np.clip(index, 0, size - 1), axis=axis)
    shape = [1] * (len(x.shape) + 1)
    shape[axis], shape[axis + 1] = out, index.shape[1]
    result = tf.reduce_sum(gathered * tf.constant(weights.reshape(shape), x.dtype), axis + 1)
    if outside is not None and outside.any():
        mask = [1] * len(x.shape)
        mask[axis] = out
        fill = tf.cast(node.attr("extrapolation_value", 0.0), x.dtype)
        result = tf.where(tf.constant(outside.reshape(mask)), fill, result)
    return result


def _resize(node: Node, x, roi, scales, sizes, mode_default: str = "half_pixel"):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    if None in x.shape.as_list():
        raise node.unsupported("Resize needs a static input shape")
    if node.attr("antialias", 0):
        raise node.unsupported("antialias is not supported")
    axes = [a % ndim for a in node.attr("axes", list(range(ndim)))]
    shape = x.shape.as_list()
    out_sizes, scale_list = _targets(node, shape, axes, static(scales), static_ints(sizes))
    kind = {"nearest": "nearest", "linear": "linear", "bilinear": "linear", "cubic": "cubic"}[
        node.attr("mode", "nearest")
    ]
    mode = node.attr("coordinate_transformation_mode", mode_default)
    roi_values = static(roi)
    original = x.dtype
    if kind != "nearest" and not original.is_floating:
        x = tf.cast(x, tf.float32)
    for i, axis in enumerate(axes):
        pair = None
        if roi_values is not None and roi_values.size:
            count = len(axes)
            pair = (float(roi_values[i]), float(roi_values[i + count]))
        if out_sizes[i] != shape[axis] or scale_list[i] != 1.0 or mode == "tf_crop_and_resize":
            x = _resize_axis(node, x, axis, out_sizes[i], scale_list[i], kind, mode, pair)
    return tf.cast(x, original) if x.dtype != original else x


def _targets(node: Node, shape, axes, scales, sizes):
    if sizes is not None and len(sizes):
        inputs = [shape[a] for a in axes]
        policy = node.attr("keep_aspect_ratio_policy", "stretch")
        if policy == "stretch":
            return sizes, [s / i for s, i in zip(sizes, inputs, strict=True)]
        ratios = [s / i for s, i in zip(sizes, inputs, strict=True)]
        scale = min(ratios) if policy == "not_larger" else max(ratios)
        return [int(np.round(scale * i)) for i in inputs], [scale] * len(axes)
    if scales is None:
        raise node.unsupported("scales or sizes must be known at conversion time")
    scales = [float(s) for s in np.reshape(scales, [-1])]
    return [int(np.floor(shape[a] * s)) for a, s in zip(axes, scales, strict=True)], scales


tf_ops.register("Resize", since=10)(lambda node, x, scales: _resize(node, x, None, scales, None, "asymmetric"))
tf_ops.register("Resize", since=11)(
    lambda node, x, roi=None, scales=None, sizes=None: _resize(node, x, roi, scales, sizes)
)


def _upsample(node: Node, x, scales):
    return _resize(node, x, None, scales, None, "asymmetric")


tf_ops.register("Upsample", since=7)(lambda node, x: _upsample(node, x, np.array(node.attr("scales"), np.float32)))
tf_ops.register("Upsample", since=9)(_upsample)
