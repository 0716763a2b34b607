"""Spatial sampling: GridSample (N-d; nearest, linear, cubic; zeros, border, reflection) and AffineGrid."""

from __future__ import annotations

import itertools

import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _cubic(t):
    a = -0.75
    d = tf.stack([t + 1, t, 1 - t, 2 - t], -1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return tf.where(d <= 1, near, far)


def _reflect(x, low: float, high: float):
    span = high - low
    below, above = low - x, x - high
    dx = tf.where(x < low, below, above)
    n = tf.math.floor(dx / span)
    r = dx - n * span
    even = tf.equal(tf.math.floormod(n, 2), 0)
    from_low = tf.where(even, low + r, high - r)
    from_high = tf.where(even, high - r, low + r)
    return tf.where(x < low, from_low, tf.where(x > high, from_high, x))


def _fetch(index, size: tf.Tensor, padding: str, low: float, high: float):
    """Index into an axis of `size` elements under the padding mode, and whether it reads a real value."""
    if padding == "reflection":
        index = tf.cast(_reflect(tf.cast(index, tf.float32), low, high), tf.int32)
    valid = (index >= 0) & (index < size) if padding == "zeros" else tf.ones_like(index, tf.bool)
    return tf.clip_by_value(index, 0, size - 1), valid


@tf_ops.register("GridSample", since=16)
def grid_sample(node: Node, x, grid):
    x = tf.convert_to_tensor(x)
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(node.attr("mode", "linear"), node.attr("mode", "linear"))
    padding = node.attr("padding_mode", "zeros")
    align = bool(node.attr("align_corners", 0))
    k = len(x.shape) - 2
    sizes = [tf.shape(x)[2 + i] for i in range(k)]
    static_sizes = x.shape.as_list()[2:]
    if None in static_sizes and padding == "reflection":
        raise node.unsupported("reflection padding needs static spatial sizes")
    data = tf.experimental.numpy.moveaxis(x, 1, -1)  # (N, D1..Dk, C)
    grid = tf.cast(grid, tf.float32)
    coords, taps, weights = [], [], []
    for i in range(k):
        g = grid[..., k - 1 - i]
        size = tf.cast(sizes[i], tf.float32)
        c = (g + 1) / 2 * (size - 1) if align else ((g + 1) * size - 1) / 2
        low, high = (0.0, (static_sizes[i] or 1) - 1.0) if align else (-0.5, (static_sizes[i] or 1) - 0.5)
        if mode == "nearest":
            c = tf.math.round(c)
        if padding == "border":
            c = tf.where((c < low) | (c > high), tf.clip_by_value(c, 0.0, size - 1), c)
        elif padding == "reflection":
            c = _reflect(c, low, high)
        coords.append(c)
        if mode == "nearest":
            taps.append([tf.cast(c, tf.int32)])
            weights.append([tf.ones_like(c)])
            continue
        base = tf.math.floor(c)
        t = c - base
        offsets = (0, 1) if mode == "linear" else (-1, 0, 1, 2)
        taps.append([tf.cast(base, tf.int32) + o for o in offsets])
        w = tf.stack([1 - t, t], -1) if mode == "linear" else _cubic(t)
        weights.append(tf.unstack(w, axis=-1))
    borders = [(0.0, (s or 1) - 1.0) if align else (-0.5, (s or 1) - 0.5) for s in static_sizes]
    total = 0.0
    for combo in itertools.product(*[range(len(t)) for t in taps]):
        indices, valid, weight = [], None, 1.0
        for i, j in enumerate(combo):
            index, ok = _fetch(taps[i][j], sizes[i], padding, *borders[i])
            indices.append(index)
            valid = ok if valid is None else valid & ok
            weight = weight * weights[i][j]
        values = tf.gather_nd(data, tf.stack(indices, -1), batch_dims=1)
        weight = tf.where(valid, weight, tf.zeros_like(weight))
        total = total + values * tf.cast(weight[..., None], x.dtype)
    return tf.experimental.numpy.moveaxis(total, -1, 1)


@tf_ops.register("AffineGrid", since=20)
def affine_grid(node: Node, theta, size):
    theta = tf.convert_to_tensor(theta)
    size = tf.cast(tf.reshape(size, [-1]), tf.int32)
    k = int(theta.shape[-1]) - 1
    align = bool(node.attr("align_corners", 0))
    axes = []
    for i in range(k):
        n = size[2 + i]
        steps = tf.cast(tf.range(n), theta.dtype)
        nf = tf.cast(n, theta.dtype)
        if align:
            axes.append(tf.where(n > 1, -1 + 2 * steps / tf.maximum(nf - 1, 1), tf.zeros_like(steps)))
        else:
            axes.append((2 * steps + 1) / nf - 1)
    mesh = tf.meshgrid(*axes, indexing="ij")  # (D1..Dk) each, in spatial order
    ones = tf.ones_like(mesh[0])
    base = tf.stack([*reversed(mesh), ones], -1)  # (x, y[, z], 1)
    flat = tf.reshape(base, [-1, k + 1])
    out = tf.einsum("pk,nck->npc", flat, theta)
    shape = tf.concat([size[:1], size[2:], [k]], 0)
    return tf.reshape(out, shape)
