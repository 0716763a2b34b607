"""Indexing: Slice, Gather*, Scatter*, TopK, ArgMax/ArgMin, Trilu, NonZero, Compress, ReverseSequence, Unique, Pad."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from converter.targets.tf.layout import axis_layout
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops
from converter.targets.tf.static import static_ints

__all__: list[str] = []


def _wrap(indices, size):
    indices = tf.cast(indices, tf.int64)
    return tf.where(indices < 0, indices + tf.cast(size, tf.int64), indices)


@tf_ops.register("Gather")
def gather(node: Node, x, indices):
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis", 0) % len(x.shape)
    return tf.gather(x, _wrap(indices, tf.shape(x)[axis]), axis=axis)


def _element_coords(indices, axis: int):
    """Full coordinates for GatherElements/ScatterElements: `indices` on `axis`, iota elsewhere."""
    shape = tf.shape(indices, out_type=tf.int64)
    grids = tf.meshgrid(*[tf.range(shape[i]) for i in range(len(indices.shape))], indexing="ij")
    grids[axis] = indices
    return tf.stack(grids, -1)


@tf_ops.register("GatherElements")
def gather_elements(node: Node, x, indices):
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis", 0) % len(x.shape)
    indices = _wrap(indices, tf.shape(x)[axis])
    return tf.gather_nd(x, _element_coords(indices, axis))


@tf_ops.register("GatherND")
def gather_nd(node: Node, x, indices):
    x = tf.convert_to_tensor(x)
    dims = node.attr("batch_dims", 0)
    indices = tf.cast(indices, tf.int64)
    indices = tf.where(indices < 0, indices + tf.shape(x, out_type=tf.int64)[dims : dims + indices.shape[-1]], indices)
    return tf.gather_nd(x, indices, batch_dims=dims)


def _scatter(node: Node, x, coords, updates):
    reduction = node.attr("reduction", "none")
    fn = {
        "none": tf.tensor_scatter_nd_update,
        "add": tf.tensor_scatter_nd_add,
        "mul": None,
        "max": tf.tensor_scatter_nd_max,
        "min": tf.tensor_scatter_nd_min,
    }.get(reduction)
    if reduction == "mul":
        ones = tf.ones_like(x)
        factors = tf.tensor_scatter_nd_update(ones, coords, tf.ones_like(updates))
        product = tf.math.exp(tf.tensor_scatter_nd_add(tf.zeros_like(x), coords, tf.math.log(updates)))
        return x * tf.where(tf.equal(factors, 1), product, ones)
    if fn is None:
        raise node.unsupported(f"reduction '{reduction}'")
    return fn(x, coords, updates)


@tf_ops.register("ScatterElements")
def scatter_elements(node: Node, x, indices, updates):
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis", 0) % len(x.shape)
    indices = _wrap(indices, tf.shape(x)[axis])
    return _scatter(node, x, _element_coords(indices, axis), updates)


tf_ops.register("Scatter", since=9)(scatter_elements)


@tf_ops.register("ScatterND")
def scatter_nd(node: Node, x, indices, updates):
    return _scatter(node, tf.convert_to_tensor(x), tf.cast(indices, tf.int64), updates)


@tf_ops.register("TopK", since=10)
def top_k(node: Node, x, k):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    axis = node.attr("axis", -1) % ndim
    k = tf.reshape(tf.cast(k, tf.int32), [])
    moved = x if axis == ndim - 1 else tf.experimental.numpy.moveaxis(x, axis, -1)
    if node.attr("largest", 1):
        values, indices = tf.math.top_k(moved, k, sorted=True)
    else:
        values, indices = tf.math.top_k(-moved, k, sorted=True)
        values = -values
    if axis != ndim - 1:
        values = tf.experimental.numpy.moveaxis(values, -1, axis)
        indices = tf.experimental.numpy.moveaxis(indices, -1, axis)
    return values, tf.cast(indices, tf.int64)


def _arg(node: Node, x, fn):
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis", 0) % len(x.shape)
    if node.attr("select_last_index", 0):
        flipped = tf.reverse(x, [axis])
        result = tf.cast(tf.shape(x)[axis] - 1, tf.int64) - fn(flipped, axis=axis)
    else:
        result = fn(x, axis=axis)
    return tf.expand_dims(result, axis) if node.attr("keepdims", 1) else result


tf_ops.register("ArgMax")(lambda node, x: _arg(node, x, tf.math.argmax))
tf_ops.register("ArgMin")(lambda node, x: _arg(node, x, tf.math.argmin))


@tf_ops.register("NonZero")
def non_zero(node: Node, x):
    return tf.transpose(tf.where(tf.not_equal(x, tf.zeros_like(x))))


@tf_ops.register("Compress")
def compress(node: Node, x, condition):
    condition = tf.cast(condition, tf.bool)
    x = tf.convert_to_tensor(x)
    axis = node.attr("axis")
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    axis = axis % len(x.shape)
    length = tf.shape(x)[axis]
    condition = tf.pad(condition, [[0, tf.maximum(length - tf.size(condition), 0)]])[:length]
    return tf.boolean_mask(x, condition, axis=axis)


_INT32 = (-(2**31), 2**31 - 1)


def _slice(node: Node, x, starts, ends, axes=None, steps=None):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    constant = _constant_slice(x, ndim, starts, ends, axes, steps)
    if constant is not None:
        return constant
    starts = tf.reshape(tf.cast(starts, tf.int64), [-1])
    if axes is None:
        axes = tf.range(tf.size(starts, out_type=tf.int64), dtype=tf.int64)
    index = tf.math.floormod(tf.reshape(tf.cast(axes, tf.int64), [-1]), ndim)[:, None]
    steps = tf.ones_like(starts) if steps is None else tf.reshape(tf.cast(steps, tf.int64), [-1])
    shape = tf.shape(x, out_type=tf.int64)
    begin = tf.tensor_scatter_nd_update(tf.zeros([ndim], tf.int64), index, starts)
    end = tf.tensor_scatter_nd_update(shape, index, tf.reshape(tf.cast(ends, tf.int64), [-1]))
    stride = tf.tensor_scatter_nd_update(tf.ones([ndim], tf.int64), index, steps)
    return tf.strided_slice(x, begin, end, stride)


def _constant_slice(x, ndim: int, starts, ends, axes, steps):
    """Bounds known at conversion time: one StridedSlice with constant arguments, as numpy slicing clamps."""
    bounds = [static_ints(v) if v is not None else None for v in (starts, ends, axes, steps)]
    if bounds[0] is None or bounds[1] is None or any(b is None for b, v in zip(bounds[2:], (axes, steps),
                                                                                   strict=True) if v is not None):
        return None
    first, last = bounds[0], bounds[1]
    axes_ = bounds[2] if axes is not None else list(range(len(first)))
    steps_ = bounds[3] if steps is not None else [1] * len(first)
    index = [slice(None)] * ndim
    for start, end, axis, step in zip(first, last, axes_, steps_, strict=True):
        # int32 bounds: TensorFlow packs Python ints as int32, and INT64_MAX/MIN mean "to the end"
        index[axis % ndim] = slice(*(min(max(v, _INT32[0]), _INT32[1]) for v in (start, end, step)))
    return x[tuple(index)]


tf_ops.register("Slice", since=1)(
    lambda node, x: _slice(node, x, np.array(node.attr("starts")), np.array(node.attr("ends")), node.attr("axes"))
)


def _remap_slice(node: Node, args: list, ndim: int, actual):
    """Slice channels-last data: only the axes move (they must be known, or default to the first ones)."""
    args = args + [None] * (5 - len(args))
    starts = static_ints(args[1])
    axes = static_ints(args[3]) if args[3] is not None else (None if starts is None else list(range(len(starts))))
    if axes is None:
        return None
    return node, [args[0], args[1], args[2], np.array([actual(a) for a in axes], np.int64), args[4]]


def _remap_pad(node: Node, args: list, ndim: int, actual):
    """Pad channels-last data: the per-axis pads move with their axes."""
    args = args + [None] * (4 - len(args))
    if args[3] is not None:
        axes = static_ints(args[3])
        return None if axes is None else (node, [*args[:3], np.array([actual(a) for a in axes], np.int64)])
    pads = static_ints(args[1])
    if pads is None:
        return None
    moved = [0] * (2 * ndim)
    for i in range(ndim):
        moved[actual(i)], moved[actual(i) + ndim] = pads[i], pads[i + ndim]
    return node, [args[0], np.array(moved, np.int64), args[2]]


tf_ops.register("Slice", since=10, layout=axis_layout(_remap_slice))(_slice)


def _pad(node: Node, x, pads, value=None, axes=None):
    x = tf.convert_to_tensor(x)
    ndim = len(x.shape)
    mode = node.attr("mode", "constant")
    axes = list(range(ndim)) if axes is None else [a % ndim for a in static_ints(axes)]
    known = static_ints(pads)
    if known is not None:
        pairs = np.zeros([ndim, 2], np.int64)
        for i, axis in enumerate(axes):
            pairs[axis] = (known[i], known[i + len(axes)])
    else:
        pads = tf.reshape(tf.cast(pads, tf.int64), [2, len(axes)])
        pairs = tf.tensor_scatter_nd_update(tf.zeros([ndim, 2], tf.int64), [[a] for a in axes], tf.transpose(pads))
    if known is None or min(known) < 0:  # negative pads crop; pads computed at run time may be negative too
        crop = tf.maximum(-pairs, 0)
        x = tf.slice(x, crop[:, 0], tf.shape(x, out_type=tf.int64) - crop[:, 0] - crop[:, 1])
        pairs = np.maximum(pairs, 0) if known is not None else tf.maximum(pairs, 0)
    if mode == "constant":
        fill = tf.cast(0 if value is None else tf.reshape(value, []), x.dtype)
        return tf.pad(x, pairs, constant_values=fill)
    if mode == "reflect":
        return tf.pad(x, pairs, mode="REFLECT")
    if mode in ("edge", "wrap"):
        for axis in axes:
            size = tf.shape(x, out_type=tf.int64)[axis]
            index = tf.range(-pairs[axis, 0], size + pairs[axis, 1])
            index = tf.clip_by_value(index, 0, size - 1) if mode == "edge" else tf.math.floormod(index, size)
            x = tf.gather(x, index, axis=axis)
        return x
    raise node.unsupported(f"pad mode '{mode}'")


tf_ops.register("Pad", since=2)(
    lambda node, x: _pad(node, x, np.array(node.attr("pads")), np.array(node.attr("value", 0.0)))
)


tf_ops.register("Pad", since=11, layout=axis_layout(_remap_pad))(_pad)


@tf_ops.register("Trilu")
def trilu(node: Node, x, k=None):
    k = tf.cast(0 if k is None else tf.reshape(k, []), tf.int64)
    shape = tf.shape(x, out_type=tf.int64)
    rows = tf.range(shape[-2])[:, None]
    cols = tf.range(shape[-1])[None, :]
    keep = cols - rows >= k if node.attr("upper", 1) else cols - rows <= k
    return tf.where(keep, x, tf.zeros_like(x))


@tf_ops.register("ReverseSequence")
def reverse_sequence(node: Node, x, lengths):
    return tf.reverse_sequence(x, lengths, seq_axis=node.attr("time_axis", 0), batch_axis=node.attr("batch_axis", 1))


@tf_ops.register("Unique", since=11)
def unique(node: Node, x):
    if node.attr("axis") is not None:
        return _unique_slices(node, tf.convert_to_tensor(x), node.attr("axis"))
    flat = tf.reshape(x, [-1])
    values, inverse = tf.unique(flat, out_idx=tf.int64)
    if node.attr("sorted", 1):
        order = tf.argsort(values, stable=True)
        values = tf.gather(values, order)
        rank = tf.math.invert_permutation(order)
        inverse = tf.gather(tf.cast(rank, tf.int64), inverse)
    count = tf.shape(values, out_type=tf.int64)[0]
    positions = tf.range(tf.size(flat, out_type=tf.int64))
    first = tf.math.unsorted_segment_min(positions, inverse, count)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(positions), inverse, count)
    return values, first, inverse, counts


def _unique_slices(node: Node, x, axis: int):
    """Unique slices along `axis`, sorted lexicographically as ONNX orders them."""
    axis = axis % len(x.shape)
    moved = tf.experimental.numpy.moveaxis(x, axis, 0)
    rows = tf.reshape(moved, [tf.shape(moved)[0], -1])
    width = rows.shape[1]
    if width is None:
        raise node.unsupported("Unique along an axis needs static slice sizes")
    _, inverse = tf.raw_ops.UniqueV2(x=rows, axis=[0], out_idx=tf.int64)
    count = tf.reduce_max(inverse) + 1
    positions = tf.range(tf.shape(rows, out_type=tf.int64)[0])
    first = tf.math.unsorted_segment_min(positions, inverse, count)
    order = tf.range(count)
    if node.attr("sorted", 1):
        keys = tf.gather(rows, first)
        for column in reversed(range(width)):
            order = tf.gather(order, tf.argsort(tf.gather(keys[:, column], order), stable=True))
    rank = tf.cast(tf.math.invert_permutation(order), tf.int64)
    first = tf.gather(first, order)
    values = tf.experimental.numpy.moveaxis(tf.gather(moved, first), 0, axis)
    counts = tf.gather(tf.math.unsorted_segment_sum(tf.ones_like(positions), inverse, count), order)
    return values, first, tf.gather(rank, inverse), counts


@tf_ops.register("TensorScatter", since=24)
def tensor_scatter(node: Node, cache, update, write_indices=None):
    cache, update = tf.convert_to_tensor(cache), tf.convert_to_tensor(update)
    axis = node.attr("axis", -2) % len(cache.shape)
    if axis == 0:
        raise node.unsupported("the sequence axis cannot be the batch axis")
    moved_cache = tf.experimental.numpy.moveaxis(cache, axis, 1)
    moved_update = tf.experimental.numpy.moveaxis(update, axis, 1)
    batch, steps = tf.shape(update, out_type=tf.int64)[0], tf.shape(update, out_type=tf.int64)[axis]
    start = tf.zeros([batch], tf.int64) if write_indices is None else tf.cast(write_indices, tf.int64)
    positions = start[:, None] + tf.range(steps)[None, :]
    if node.attr("mode", "linear") == "circular":
        positions = tf.math.floormod(positions, tf.shape(cache, out_type=tf.int64)[axis])
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(positions))
    updated = tf.tensor_scatter_nd_update(moved_cache, tf.stack([rows, positions], -1), moved_update)
    return tf.experimental.numpy.moveaxis(updated, 1, axis)
