"""Conv and ConvTranspose, computed channels-last (TensorFlow's CPU kernels need NHWC)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from converter.targets.tf.conv_weights import Kernel, kernel_perm, transposed_kernel_perm
from converter.targets.tf.layout import CHANNELS_LAST
from converter.targets.tf.node import Node
from converter.targets.tf.ops.padding import explicit_pads, same_pads
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _kernel(w, perm) -> tf.Tensor:
    if isinstance(w, Kernel):
        if w.depthwise:  # (kh, kw, groups, multiplier) -> (kh, kw, 1, groups * multiplier)
            return tf.reshape(w.value, [*w.value.shape[:2], 1, -1])
        return w.value
    if isinstance(w, np.ndarray):
        return tf.constant(np.transpose(w, perm))
    return tf.transpose(w, perm)


def _depthwise_kernel(w, groups: int) -> tf.Tensor:
    """The weight as tf.nn.depthwise_conv2d takes it: (kh, kw, groups, multiplier)."""
    if isinstance(w, Kernel) and w.depthwise:
        return w.value
    if isinstance(w, np.ndarray):
        kernel = np.transpose(w, kernel_perm(4))
        return tf.constant(np.reshape(kernel, [*kernel.shape[:2], groups, -1]))
    kernel = _kernel(w, kernel_perm(4))
    return tf.reshape(kernel, [*kernel.shape[:2], groups, -1])


@tf_ops.register("Conv", layout=CHANNELS_LAST)
def conv(node: Node, x, w, b=None):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    n = ndim - 2
    strides = node.attr("strides", [1] * n)
    dilations = node.attr("dilations", [1] * n)
    groups = node.attr("group", 1)
    channels = x.shape[-1]
    if n == 2 and groups > 1 and groups == channels and _depthwise_ok(strides, dilations):
        return _depthwise(node, x, _depthwise_kernel(w, groups), strides, dilations, b)
    kernel = _kernel(w, kernel_perm(ndim))
    ksize = [int(k) for k in kernel.shape[:n]]
    pads = explicit_pads(node, list(x.shape[1:-1]), ksize, strides, dilations)
    if n == 2 and (groups == 1 or kernel.shape[-2] * groups == channels and groups != channels):
        # Conv2D takes explicit padding and (on CPU too) groups: one op, no separate Pad.
        y = tf.nn.conv2d(x, kernel, [1, *strides, 1], [(0, 0), *pads, (0, 0)], dilations=[1, *dilations, 1])
        if b is None:
            return y
        # Grappler fuses Conv2D + BiasAdd into a kernel that refuses groups; a plain add is left alone.
        return tf.nn.bias_add(y, tf.cast(b, y.dtype)) if groups == 1 else y + tf.cast(b, y.dtype)
    if any(p != (0, 0) for p in pads):
        x = tf.pad(x, [(0, 0), *pads, (0, 0)])
    if groups == 1:
        y = tf.nn.convolution(x, kernel, strides, "VALID", dilations=dilations)
    else:
        xs = tf.split(x, groups, axis=-1)
        ks = tf.split(kernel, groups, axis=-1)
        parts = [tf.nn.convolution(a, k, strides, "VALID", dilations=dilations) for a, k in zip(xs, ks, strict=True)]
        y = tf.concat(parts, -1)
    if b is not None:
        y = tf.nn.bias_add(y, tf.cast(b, y.dtype))
    return y


def _depthwise(node: Node, x, kernel, strides, dilations, b):
    """One DepthwiseConv2dNative (TFLite's DEPTHWISE_CONV_2D), padded by its own "SAME" where that is ONNX's padding.

    Its explicit padding is not used: grappler's shape inference aborts the process on it in a Session.
    """
    ksize = [int(k) for k in kernel.shape[:2]]
    spatial = list(x.shape[1:-1])
    pads = explicit_pads(node, spatial, ksize, strides, dilations)
    padding = "SAME" if pads == same_pads(spatial, ksize, strides, dilations) else "VALID"
    if padding == "VALID" and any(p != (0, 0) for p in pads):
        x = tf.pad(x, [(0, 0), *pads, (0, 0)])
    y = tf.nn.depthwise_conv2d(x, kernel, [1, *strides, 1], padding, dilations=dilations)
    return y if b is None else tf.nn.bias_add(y, tf.cast(b, y.dtype))


@tf_ops.register("ConvTranspose", layout=CHANNELS_LAST)
def conv_transpose(node: Node, x, w, b=None):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    n = ndim - 2
    kernel = _kernel(w, transposed_kernel_perm(ndim))
    ksize = [int(k) for k in kernel.shape[:n]]
    strides = node.attr("strides", [1] * n)
    dilations = node.attr("dilations", [1] * n)
    if any(d != 1 for d in dilations):
        kernel = _dilate(kernel, dilations)
        ksize = [(k - 1) * d + 1 for k, d in zip(ksize, dilations, strict=True)]
    groups = node.attr("group", 1)
    spatial = list(x.shape[1:-1])
    if None in spatial:
        raise node.unsupported("ConvTranspose needs static spatial dimensions")
    out_pad = node.attr("output_padding", [0] * n)
    full = [s * (i - 1) + k for s, i, k in zip(strides, spatial, ksize, strict=True)]
    pads = _transpose_pads(node, spatial, strides, full, out_pad)
    shape = tf.shape(x)
    xs = tf.split(x, groups, axis=-1) if groups > 1 else [x]
    ks = tf.split(kernel, groups, axis=-1) if groups > 1 else [kernel]
    per_group = kernel.shape[-2]
    # Ends padded negatively (output_shape beyond the full size) become extra output instead.
    grow = [max(-e, 0) for _, e in pads]
    pads = [(b0, max(e, 0)) for b0, e in pads]
    outputs = []
    for a, k in zip(xs, ks, strict=True):
        size = [f + p + g for f, p, g in zip(full, out_pad, grow, strict=True)]
        output_shape = tf.stack([shape[0], *size, per_group])
        outputs.append(tf.nn.conv_transpose(a, k, output_shape, strides, "VALID"))
    y = tf.concat(outputs, -1) if groups > 1 else outputs[0]
    slices = [slice(None)] + [slice(b0, y.shape[i + 1] - e0) for i, (b0, e0) in enumerate(pads)] + [slice(None)]
    y = y[tuple(slices)]
    if b is not None:
        y = tf.nn.bias_add(y, tf.cast(b, y.dtype))
    return y


def _depthwise_ok(strides: list[int], dilations: list[int]) -> bool:
    return strides[0] == strides[1] and (max(strides) == 1 or max(dilations) == 1)


def _transpose_pads(node: Node, spatial, strides, full, out_pad) -> list[tuple[int, int]]:
    n = len(spatial)
    output_shape = node.attr("output_shape")
    auto_pad = node.attr("auto_pad", "NOTSET")
    if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = [i * s for i, s in zip(spatial, strides, strict=True)]
    if output_shape is None:
        raw = node.attr("pads", [0] * (2 * n))
        return [(raw[i], raw[i + n]) for i in range(n)]
    pads = []
    for f, p, o in zip(full, out_pad, output_shape[-n:], strict=True):
        total = f + p - o
        if auto_pad == "SAME_UPPER":
            pads.append((total // 2, total - total // 2))
        else:
            pads.append((total - total // 2, total // 2))
    return pads


def _dilate(kernel: tf.Tensor, dilations: list[int]) -> tf.Tensor:
    for axis, d in enumerate(dilations):
        if d == 1:
            continue
        size = kernel.shape[axis]
        moved = tf.experimental.numpy.moveaxis(kernel, axis, 0)
        zeros = tf.zeros([size, d - 1, *moved.shape[1:]], kernel.dtype)
        spread = tf.reshape(tf.concat([moved[:, None], zeros], 1), [size * d, *moved.shape[1:]])[: (size - 1) * d + 1]
        kernel = tf.experimental.numpy.moveaxis(spread, 0, axis)
    return kernel
