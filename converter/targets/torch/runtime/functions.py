"""Functions the generated modules call where one torch call does not express an ONNX op."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "selu", "shrink", "softmax_2d", "log_softmax_2d", "hardmax", "hardmax_2d", "shape", "size", "reshape",
    "flatten", "expand", "slice_", "constant_of_shape", "arange", "one_hot", "eye_like", "cumsum",
    "arg_last", "gather_elements", "gather_nd", "scatter_nd", "compress", "depth_to_space", "space_to_depth",
    "tile", "pad", "gather_index", "cast_like", "cumprod", "top_k", "reverse_sequence", "unique", "tensor_scatter",
    "onnx_div",
]


def selu(x: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    return gamma * torch.where(x > 0, x, alpha * torch.expm1(x))


def shrink(x: torch.Tensor, lambd: float, bias: float) -> torch.Tensor:
    zero = torch.zeros_like(x)
    return torch.where(x < -lambd, x + bias, torch.where(x > lambd, x - bias, zero)).to(x.dtype)


def _as_2d(fn):
    def apply(x: torch.Tensor, axis: int) -> torch.Tensor:
        axis = axis % max(x.dim(), 1)
        rows = 1
        for d in x.shape[:axis]:
            rows *= d
        return fn(x.reshape(rows, -1), 1).reshape(x.shape)

    return apply


def hardmax(x: torch.Tensor, axis: int) -> torch.Tensor:
    index = torch.argmax(x, dim=axis, keepdim=True)
    return torch.zeros_like(x).scatter_(axis, index, 1)


softmax_2d = _as_2d(torch.softmax)
log_softmax_2d = _as_2d(torch.log_softmax)
hardmax_2d = _as_2d(hardmax)


def shape(x: torch.Tensor, start: int = 0, end: int | None = None) -> torch.Tensor:
    return torch.tensor(x.shape[start:end], dtype=torch.int64, device=x.device)


def size(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


def _dims(shape: torch.Tensor | list[int]) -> list[int]:
    return [int(d) for d in (shape.tolist() if isinstance(shape, torch.Tensor) else shape)]


def reshape(x: torch.Tensor, shape: torch.Tensor, allowzero: int = 0) -> torch.Tensor:
    dims = _dims(shape)
    if not allowzero:
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def flatten(x: torch.Tensor, axis: int) -> torch.Tensor:
    axis = axis + x.dim() if axis < 0 else axis
    rows = 1
    for d in x.shape[:axis]:
        rows *= d
    cols = 1
    for d in x.shape[axis:]:
        cols *= d
    return x.reshape(rows, cols)


def expand(x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    if torch.jit.is_tracing():  # sizes as 0-d tensors: the trace keeps them; a list of ints would be constants
        return torch.broadcast_tensors(x, torch.empty(list(shape.unbind(0)), dtype=x.dtype, device=x.device))[0]
    return x.expand(torch.broadcast_shapes(x.shape, tuple(_dims(shape))))


def tile(x: torch.Tensor, repeats: torch.Tensor) -> torch.Tensor:
    return x.repeat(_dims(repeats))


def slice_(x, starts, ends, axes=None, steps=None) -> torch.Tensor:
    starts, ends = _dims(starts), _dims(ends)
    axes = _dims(axes) if axes is not None else list(range(len(starts)))
    steps = _dims(steps) if steps is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
        axis = axis % x.dim()
        length = x.shape[axis]
        begin, stop, stride = slice(start, end, step).indices(length)
        if stride > 0:
            x = x[(slice(None),) * axis + (slice(begin, max(begin, stop), stride),)]
        else:
            count = max(0, -(-(begin - stop) // -stride))
            index = torch.arange(begin, begin + stride * count, stride, device=x.device)[:count]
            x = x.index_select(axis, index)
    return x


def constant_of_shape(shape: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return torch.full(_dims(shape), value.reshape(()).item(), dtype=value.dtype, device=value.device)


def arange(start: torch.Tensor, limit: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype, device=start.device)


def one_hot(indices: torch.Tensor, depth: torch.Tensor, values: torch.Tensor, axis: int) -> torch.Tensor:
    depth_ = int(depth.reshape(()).item())
    indices = torch.where(indices < 0, indices + depth_, indices).long()
    valid = (indices >= 0) & (indices < depth_)
    hot = F.one_hot(torch.where(valid, indices, 0), depth_) * valid.unsqueeze(-1)
    hot = hot.movedim(-1, axis if axis >= 0 else axis + hot.dim())
    return torch.where(hot.bool(), values[1], values[0])


def eye_like(x: torch.Tensor, k: int, dtype: torch.dtype) -> torch.Tensor:
    rows, cols = x.shape
    eye = torch.zeros(rows, cols, dtype=dtype, device=x.device)
    index = torch.arange(max(0, -k), min(rows, cols - k) if cols - k > 0 else 0, device=x.device)
    if index.numel():
        eye[index, index + k] = 1
    return eye


def cumsum(x: torch.Tensor, axis: torch.Tensor, exclusive: int, reverse: int) -> torch.Tensor:
    dim = int(axis.reshape(()).item())
    if reverse:
        x = x.flip(dim)
    out = torch.cumsum(x, dim).to(x.dtype)
    if exclusive:
        out = out - x
    return out.flip(dim) if reverse else out


def arg_last(x: torch.Tensor, axis: int, keepdims: int, largest: bool) -> torch.Tensor:
    fn = torch.argmax if largest else torch.argmin
    flipped = fn(x.flip(axis), dim=axis, keepdim=bool(keepdims))
    return x.shape[axis] - 1 - flipped


def gather_elements(x: torch.Tensor, index: torch.Tensor, axis: int) -> torch.Tensor:
    index = torch.where(index < 0, index + x.shape[axis], index).long()
    return torch.gather(x, axis, index)


def gather_nd(x: torch.Tensor, index: torch.Tensor, batch_dims: int) -> torch.Tensor:
    # one linear index into x's leading dims, no loop over sizes: a trace or export follows the input's sizes
    index = index.long()
    flat = torch.zeros_like(index[..., 0])
    for j in range(batch_dims):
        size = x.shape[j]
        flat = flat * size + torch.arange(size, device=x.device).reshape([size] + [1] * (index.dim() - 2 - j))
    depth = index.shape[-1]
    for i in range(depth):
        size, item = x.shape[batch_dims + i], index[..., i]
        flat = flat * size + item + size * (item < 0).long()
    return x.flatten(0, batch_dims + depth - 1)[flat]


def scatter_nd(x: torch.Tensor, index: torch.Tensor, updates: torch.Tensor, reduction: str) -> torch.Tensor:
    out = x.clone()
    depth = index.shape[-1]
    rows = index.reshape(-1, depth).long()
    values = updates.reshape((rows.shape[0],) + tuple(x.shape[depth:]))
    for row, value in zip(rows, values, strict=False):
        key = tuple(row.tolist())
        if reduction == "add":
            out[key] = out[key] + value
        elif reduction == "mul":
            out[key] = out[key] * value
        elif reduction == "max":
            out[key] = torch.maximum(out[key], value)
        elif reduction == "min":
            out[key] = torch.minimum(out[key], value)
        else:
            out[key] = value
    return out


def compress(x: torch.Tensor, condition: torch.Tensor, axis: int | None) -> torch.Tensor:
    if axis is None:
        x, axis = x.reshape(-1), 0
    keep = torch.nonzero(condition.bool()).reshape(-1)
    keep = keep[keep < x.shape[axis]]
    return x.index_select(axis, keep)


def depth_to_space(x: torch.Tensor, block: int, mode: str) -> torch.Tensor:
    if mode == "CRD":
        return F.pixel_shuffle(x, block)
    n, c, h, w = x.shape
    y = x.reshape(n, block, block, c // (block * block), h, w).permute(0, 3, 4, 1, 5, 2)
    return y.reshape(n, c // (block * block), h * block, w * block)


def space_to_depth(x: torch.Tensor, block: int, mode: str = "DCR") -> torch.Tensor:
    n, c, h, w = x.shape
    order = (0, 1, 3, 5, 2, 4) if mode == "CRD" else (0, 3, 5, 1, 2, 4)
    y = x.reshape(n, c, h // block, block, w // block, block).permute(order)
    return y.reshape(n, c * block * block, h // block, w // block)


def pad(x: torch.Tensor, pads, mode: str, value) -> torch.Tensor:
    pads = _dims(pads)
    rank = len(pads) // 2
    if mode == "constant":
        torch_pads: list[int] = []
        for axis in reversed(range(rank)):
            torch_pads += [pads[axis], pads[axis + rank]]
        fill = value.reshape(()).item() if isinstance(value, torch.Tensor) else value
        return F.pad(x, torch_pads, "constant", fill)
    for axis in range(rank):
        begin, end = pads[axis], pads[axis + rank]
        if begin or end:
            x = x.index_select(axis, _pad_index(x.shape[axis], begin, end, mode).to(x.device))
    return x


def _pad_index(size: int, begin: int, end: int, mode: str) -> torch.Tensor:
    index = torch.arange(-begin, size + end)
    if mode == "replicate":
        return index.clamp(0, size - 1)
    if mode == "circular":
        return index % size
    period = 2 * (size - 1) if size > 1 else 1
    index = index.abs() % period
    return torch.where(index >= size, period - index, index)


def gather_index(x: torch.Tensor, index: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.where(index < 0, index + x.shape[axis], index).long()


def cast_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return x.to(like.dtype)


def cumprod(x: torch.Tensor, axis: torch.Tensor, exclusive: int, reverse: int) -> torch.Tensor:
    dim = int(axis.reshape(()).item())
    if reverse:
        x = x.flip(dim)
    if exclusive:
        ones = torch.ones_like(x.narrow(dim, 0, 1))
        x = torch.cat([ones, x.narrow(dim, 0, x.shape[dim] - 1)], dim)
    out = torch.cumprod(x, dim).to(x.dtype)
    return out.flip(dim) if reverse else out


def top_k(x: torch.Tensor, k: int, axis: int, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Top k along `axis`, ties broken by the lower index (a stable sort)."""
    values, indices = torch.sort(x, dim=axis, descending=largest, stable=True)
    return values.narrow(axis, 0, k), indices.narrow(axis, 0, k)


def reverse_sequence(x: torch.Tensor, lengths: torch.Tensor, batch_axis: int, time_axis: int) -> torch.Tensor:
    """Reverse the first lengths[b] steps of every sequence b, as one gather (no data-dependent Python)."""
    steps = torch.arange(x.shape[time_axis], device=x.device)[:, None]
    lens = lengths.long()[None, :]
    index = torch.where(steps < lens, lens - 1 - steps, steps)
    if batch_axis < time_axis:
        index = index.t()
    index = index.reshape(tuple(index.shape) + (1,) * (x.dim() - 2)).expand_as(x)
    return torch.gather(x, time_axis, index)


def unique(x: torch.Tensor, axis: int | None, sorted_: int):
    """ONNX Unique: values, first-occurrence indices, inverse indices, counts."""
    flat = x.reshape(-1) if axis is None else x
    dim = 0 if axis is None else axis % x.dim()
    values, inverse, counts = torch.unique(flat, sorted=True, return_inverse=True, return_counts=True, dim=dim)
    positions = torch.arange(inverse.numel(), device=x.device)
    first = torch.full((counts.numel(),), inverse.numel(), dtype=torch.int64, device=x.device).scatter_reduce(
        0, inverse, positions, "amin"
    )
    if not sorted_:
        order = torch.argsort(first)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(order.numel(), device=x.device)
        values, first, counts, inverse = values.index_select(dim, order), first[order], counts[order], rank[inverse]
    return values, first, inverse, counts


def tensor_scatter(cache: torch.Tensor, update: torch.Tensor, write_indices, axis: int, circular: bool):
    out = cache.clone()
    axis = axis % cache.dim()
    length, steps = cache.shape[axis], update.shape[axis]
    starts = write_indices.tolist() if write_indices is not None else [0] * cache.shape[0]
    for b, start in enumerate(starts):
        for step in range(steps):
            position = (start + step) % length if circular else start + step
            target = [b] + [slice(None)] * (axis - 1) + [position]
            source = [b] + [slice(None)] * (axis - 1) + [step]
            out[tuple(target)] = update[tuple(source)]
    return out


def onnx_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """ONNX Div where the dtype is only known at run time: integers truncate."""
    if a.dtype.is_floating_point or a.dtype.is_complex:
        return torch.div(a, b)
    return torch.div(a, b, rounding_mode="trunc")
