"""Padding arithmetic shared by convolution and pooling (auto_pad, pads, ceil_mode), and CenterCropPad."""

from __future__ import annotations

import math

import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__ = ["explicit_pads", "same_pads"]


def explicit_pads(
    node: Node,
    spatial: list[int | None],
    kernel: list[int],
    strides: list[int],
    dilations: list[int],
    ceil_mode: bool = False,
) -> list[tuple[int, int]]:
    """(begin, end) padding per spatial axis that makes a VALID window pass match ONNX."""
    n = len(kernel)
    auto_pad = node.attr("auto_pad", "NOTSET")
    effective = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if None in spatial:
            raise node.unsupported("auto_pad SAME needs static spatial dimensions")
        upper = same_pads(spatial, kernel, strides, dilations)
        return upper if auto_pad == "SAME_UPPER" else [(end, begin) for begin, end in upper]
    if auto_pad == "VALID":
        return [(0, 0)] * n
    raw = node.attr("pads", [0] * (2 * n))
    pads = [(raw[i], raw[i + n]) for i in range(n)]
    if not ceil_mode:
        return pads
    if None in spatial:
        raise node.unsupported("ceil_mode needs static spatial dimensions")
    result = []
    for size, s, e, (begin, end) in zip(spatial, strides, effective, pads, strict=True):
        out = math.ceil((size + begin + end - e) / s) + 1
        if (out - 1) * s >= size + begin:
            out -= 1
        result.append((begin, max(end, (out - 1) * s + e - size - begin)))
    return result


def same_pads(
    spatial: list[int | None], kernel: list[int], strides: list[int], dilations: list[int]
) -> list[tuple[int, int]] | None:
    """The (begin, end) padding of TensorFlow's "SAME" (ONNX SAME_UPPER); None where it depends on an unknown size."""
    pads = []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        effective = (k - 1) * d + 1
        if size is None and s != 1:
            return None
        total = effective - 1 if size is None else max((-(-size // s) - 1) * s + effective - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads


@tf_ops.register("CenterCropPad", since=18)
def center_crop_pad(node: Node, x, shape):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    axes = [a % ndim for a in node.attr("axes", list(range(ndim)))]
    target = tf.cast(tf.reshape(shape, [-1]), tf.int32)
    for i, axis in enumerate(axes):
        size, want = tf.shape(x)[axis], target[i]
        start = tf.maximum(size - want, 0) // 2
        x = tf.gather(x, tf.range(start, start + tf.minimum(size, want)), axis=axis)
        before = tf.maximum(want - size, 0) // 2
        after = tf.maximum(want - size, 0) - before
        paddings = tf.tensor_scatter_nd_update(tf.zeros([ndim, 2], tf.int32), [[axis]], [tf.stack([before, after])])
        x = tf.pad(x, paddings)
    return x
