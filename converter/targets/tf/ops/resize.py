"""Resize and Upsample as separable per-axis gathers, following ONNX's coordinate rules exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import tensorflow as tf

from converter.targets.tf.layout import axis_layout
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops
from converter.targets.tf.static import static

__all__: list[str] = []

_ROUNDING = {
    "round_prefer_floor": lambda c: tf.math.ceil(c - 0.5),
    "round_prefer_ceil": lambda c: tf.math.floor(c + 0.5),
    "floor": tf.math.floor,
    "ceil": tf.math.ceil,
}


def _source_coords(node: Node, mode: str, out, size, scale, roi):
    """For each output index along one axis, the (fractional) input coordinate it samples."""
    x = tf.cast(tf.range(out), tf.float32)
    size_f, out_f = tf.cast(size, tf.float32), tf.cast(out, tf.float32)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = out_f / (scale * size_f)
        return size_f / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return tf.where(out > 1, (x + 0.5) / scale - 0.5, tf.zeros_like(x))
    if mode == "align_corners":
        return tf.where(out > 1, x * (size_f - 1) / tf.maximum(out_f - 1, 1), tf.zeros_like(x))
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        spread = start * (size_f - 1) + x * (end - start) * (size_f - 1) / tf.maximum(out_f - 1, 1)
        return tf.where(out > 1, spread, tf.fill(tf.shape(x), 0.5 * (start + end) * (size_f - 1)))
    raise node.unsupported(f"coordinate_transformation_mode '{mode}'")


def _taps(node: Node, kind: str, coords, size):
    """Per output position: source indices (out, taps) and weights (out, taps)."""
    if kind == "nearest":
        mode = node.attr("nearest_mode", "round_prefer_floor")
        if mode not in _ROUNDING:
            raise node.unsupported(f"nearest_mode '{mode}'")
        index = tf.cast(_ROUNDING[mode](coords), tf.int64)[:, None]
        return index, tf.ones_like(coords)[:, None]
    base = tf.math.floor(coords)
    t = coords - base
    base = tf.cast(base, tf.int64)
    if kind == "linear":
        return tf.stack([base, base + 1], 1), tf.stack([1 - t, t], 1)
    a = node.attr("cubic_coeff_a", -0.75)
    index = tf.stack([base - 1, base, base + 1, base + 2], 1)
    d = tf.stack([t + 1, t, 1 - t, 2 - t], 1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    weights = tf.where(d <= 1, near, far)
    if node.attr("exclude_outside", 0):
        weights = tf.where((index < 0) | (index >= size), tf.zeros_like(weights), weights)
        weights = weights / tf.reduce_sum(weights, 1, keepdims=True)
    return index, weights


def _resize_axis(node: Node, x, axis: int, out, scale, kind: str, mode: str, roi):
    size = tf.shape(x, out_type=tf.int64)[axis]
    coords = _source_coords(node, mode, out, size, scale, roi)
    index, weights = _taps(node, kind, coords, size)
    gathered = tf.gather(x, tf.clip_by_value(index, 0, size - 1), axis=axis)
    trailing = len(x.shape) - axis - 1
    weights = tf.reshape(tf.cast(weights, x.dtype), tf.concat([tf.shape(weights), [1] * trailing], 0))
    result = tf.reduce_sum(gathered * weights, axis + 1)
    if mode == "tf_crop_and_resize":
        outside = tf.reshape((coords < 0) | (coords > tf.cast(size - 1, tf.float32)), [-1] + [1] * trailing)
        fill = tf.cast(node.attr("extrapolation_value", 0.0), x.dtype)
        result = tf.where(outside, fill, result)
    return result


def _targets(node: Node, x, axes: list[int], order: list[int], scales, sizes):
    """Output size (int64) and scale (float32) per resized axis, static where the inputs are."""
    in_sizes = [tf.shape(x, out_type=tf.int64)[order[a]] for a in axes]
    if sizes is not None and (static(sizes) is None or static(sizes).size):
        sizes = tf.cast(tf.reshape(sizes, [-1]), tf.int64)
        ratios = [tf.cast(sizes[i], tf.float32) / tf.cast(n, tf.float32) for i, n in enumerate(in_sizes)]
        policy = node.attr("keep_aspect_ratio_policy", "stretch")
        if policy == "stretch":
            return [sizes[i] for i in range(len(axes))], ratios
        scale = tf.reduce_min(ratios) if policy == "not_larger" else tf.reduce_max(ratios)
        outs = [tf.cast(tf.math.floor(scale * tf.cast(n, tf.float32) + 0.5), tf.int64) for n in in_sizes]
        return outs, [scale] * len(axes)
    if scales is None:
        raise node.unsupported("Resize needs scales or sizes")
    scales = tf.cast(tf.reshape(scales, [-1]), tf.float32)
    outs = [tf.cast(tf.math.floor(tf.cast(n, tf.float32) * scales[i]), tf.int64) for i, n in enumerate(in_sizes)]
    return outs, [scales[i] for i in range(len(axes))]


def _resize(node: Node, x, roi, scales, sizes, mode_default: str = "half_pixel"):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    order = node.attr("_order", list(range(ndim)))
    if node.attr("antialias", 0):
        raise node.unsupported("antialias is not supported")
    axes = [a % ndim for a in node.attr("axes", list(range(ndim)))]
    kind = {"nearest": "nearest", "linear": "linear", "bilinear": "linear", "cubic": "cubic"}.get(
        node.attr("mode", "nearest")
    )
    if kind is None:
        raise node.unsupported(f"mode '{node.attr('mode')}'")
    mode = node.attr("coordinate_transformation_mode", mode_default)
    outs, scale_list = _targets(node, x, axes, order, scales, sizes)
    known_scales = static(scales) if scales is not None and sizes is None else None
    original = x.dtype
    if kind != "nearest" and not original.is_floating:
        x = tf.cast(x, tf.float32)
    roi_values = None if roi is None else tf.cast(tf.reshape(roi, [-1]), tf.float32)
    for i, axis in enumerate(axes):
        if (
            known_scales is not None
            and float(np.reshape(known_scales, [-1])[i]) == 1.0
            and mode != "tf_crop_and_resize"
        ):
            continue
        pair = None if roi_values is None else (roi_values[i], roi_values[i + len(axes)])
        x = _resize_axis(node, x, order[axis], outs[i], scale_list[i], kind, mode, pair)
    return tf.cast(x, original) if x.dtype != original else x


def _remap(node: Node, args: list, ndim: int, actual):
    return replace(node, attrs={**node.attrs, "_order": [actual(i) for i in range(ndim)]}), args


tf_ops.register("Resize", since=10, layout=axis_layout(_remap))(
    lambda node, x, scales: _resize(node, x, None, scales, None, "asymmetric")
)
tf_ops.register("Resize", since=11, layout=axis_layout(_remap))(
    lambda node, x, roi=None, scales=None, sizes=None: _resize(node, x, roi, scales, sizes)
)


def _upsample(node: Node, x, scales):
    node = replace(node, attrs={"nearest_mode": "floor", **node.attrs})
    return _resize(node, x, None, scales, None, "asymmetric")


tf_ops.register("Upsample", since=7)(lambda node, x: _upsample(node, x, np.array(node.attr("scales"), np.float32)))
tf_ops.register("Upsample", since=9)(_upsample)
