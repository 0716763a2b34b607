"""Shape values kept as sizes (`x.size(i)`), not tensors, so torch.export sees Shape -> Reshape chains as dynamic.

The handlers below are the `dims=` of registry entries: they keep Dims symbolic, or return None to decline
(the inputs are then materialized and the usual handler runs).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.fx

from converter.targets.torch.dtypes import tensor_of
from converter.targets.torch.node import Node, is_traced

__all__ = [
    "Dims", "dims_tensor", "size_max", "size_min", "materialize", "gather", "unsqueeze", "squeeze", "concat", "slice_",
    "range_", "same", "arithmetic", "ARITHMETIC", "equal", "extreme", "reduce_prod", "reshape", "expand",
    "constant_of_shape",
]


@dataclass(frozen=True)
class Dims:
    """A 1-D (or, with `scalar`, 0-d) int64 tensor whose items are ints or FX proxies of sizes."""

    items: tuple[Any, ...]
    scalar: bool = False
    source: Any = None  # the tensor (proxy) measured, whose device the materialized tensor takes
    floating: bool = False  # cast to float (a causal mask's range over the sequence length): float32 when made

    @property
    def known(self) -> bool:
        return not any(isinstance(i, torch.fx.Proxy) for i in self.items)

    def as_list(self) -> list[Any]:
        return list(self.items)


def dims_tensor(items: list[int], scalar: bool, like: torch.Tensor | None = None,
                dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """The int64 (or `dtype`) tensor of a Dims value (called by the module where a real tensor is needed)."""
    device = like.device if like is not None else None
    if torch.jit.is_tracing() and len(items) > 0:  # torch.tensor of sizes would be a constant of the trace
        tensor = torch.stack([torch.full([], i, dtype=dtype, device=device) for i in items])
    else:
        tensor = torch.tensor(items, dtype=dtype, device=device)
    return tensor.reshape(()) if scalar else tensor


def materialize(value: Any) -> Any:
    """A Dims value as a tensor (now when every item is known, else an FX call); anything else unchanged."""
    if not isinstance(value, Dims):
        return value
    dtype = torch.float32 if value.floating else torch.int64
    if value.known:
        return dims_tensor(value.as_list(), value.scalar, dtype=dtype)
    proxy = next(i for i in value.items if isinstance(i, torch.fx.Proxy))
    args = (value.as_list(), value.scalar, value.source, dtype)
    return proxy.tracer.create_proxy("call_function", dims_tensor, args, {})


_INT64_MAX = 2**63 - 1


def _items(node: Node, value: Any) -> tuple[list[Any], bool] | None:
    """(items, scalar) of an int Dims or a small constant int tensor; None for anything else."""
    if isinstance(value, Dims):
        return None if value.floating else (value.as_list(), value.scalar)
    if isinstance(value, torch.Tensor) and not value.dtype.is_floating_point and value.dim() <= 1:
        return [int(v) for v in value.reshape(-1).tolist()], value.dim() == 0
    return None


def gather(node: Node, data, indices):
    if node.attr("axis", 0) != 0 or is_traced(indices) or not isinstance(data, Dims):
        return None
    picked = [data.items[int(i)] for i in indices.reshape(-1).tolist()]
    return replace(data, items=tuple(picked), scalar=indices.dim() == 0)


def unsqueeze(node: Node, data, axes=None):
    return replace(data, scalar=False) if isinstance(data, Dims) and data.scalar else None


def squeeze(node: Node, data, axes=None):
    if not isinstance(data, Dims) or data.scalar or len(data.items) != 1:
        return None
    return replace(data, scalar=True)


def concat(node: Node, *parts):
    items: list[Any] = []
    for part in parts:
        got = _items(node, part)
        if got is None or got[1]:
            return None
        items += got[0]
    return Dims(tuple(items), source=next((p.source for p in parts if isinstance(p, Dims)), None))


def slice_(node: Node, data, starts, ends, axes=None, steps=None):
    if not isinstance(data, Dims):
        return _slice_tensor(node, data, starts, ends, axes, steps)
    if any(is_traced(v) or isinstance(v, Dims) for v in (starts, ends, axes, steps)):
        return None
    step = 1 if steps is None else int(steps.reshape(-1)[0])
    return replace(data, items=tuple(data.items[int(starts.reshape(-1)[0]) : int(ends.reshape(-1)[0]) : step]))


def _slice_tensor(node: Node, x, starts, ends, axes=None, steps=None):
    """A tensor sliced with bounds that are sizes (x[:, :seq]): Python slicing keeps them symbolic."""
    given = [v for v in (starts, ends, axes, steps) if v is not None]
    bounds = [_items(node, v) if v is not None else None for v in (starts, ends, axes, steps)]
    if len(given) != sum(b is not None for b in bounds):
        return None  # a bound that is neither a constant nor sizes
    (first, _), (last, _) = bounds[0], bounds[1]
    axes_ = bounds[2][0] if axes is not None else list(range(len(first)))
    steps_ = bounds[3][0] if steps is not None else [1] * len(first)
    if not all(isinstance(v, int) for v in [*axes_, *steps_]) or any(step <= 0 for step in steps_):
        return None
    rank = node.rank(0)
    index = [slice(None)] * rank
    for start, end, axis, step in zip(first, last, axes_, steps_, strict=True):
        index[axis % rank] = slice(start, min(end, _INT64_MAX) if isinstance(end, int) else end, step)
    return _traced_call(operator.getitem, [*first, *last], x, tuple(index))


def range_(node: Node, start, limit, delta):
    """Range over sizes (arange(seq)) as one torch.arange call that stays symbolic; in float32 over sizes cast
    to float (with whole-number float constants)."""
    values = [_range_items(node, v) for v in (start, limit, delta)]
    if any(v is None or not v[1] for v in values):
        return None
    start_, limit_, delta_ = (v[0][0] for v in values)
    floating = any(isinstance(v, Dims) and v.floating or isinstance(v, torch.Tensor) and v.dtype.is_floating_point
                   for v in (start, limit, delta))
    if floating and node.out_dtype(0) not in (None, torch.float32):
        return None
    dtype = torch.float32 if floating else torch.int64
    return _traced_call(torch.arange, [start_, limit_, delta_], start_, limit_, delta_, dtype=dtype)


def _range_items(node: Node, value: Any) -> tuple[list[Any], bool] | None:
    """_items, also of a float Dims and of a whole-number float constant."""
    if isinstance(value, Dims):
        return value.as_list(), value.scalar
    if isinstance(value, torch.Tensor) and value.dtype.is_floating_point and value.dim() <= 1 and not is_traced(value):
        numbers = value.reshape(-1).tolist()
        return ([int(v) for v in numbers], value.dim() == 0) if all(float(v).is_integer() for v in numbers) else None
    return _items(node, value)


def _traced_call(fn, items: list[Any], *args: Any, **kwargs: Any) -> Any:
    """fn(*args) as an FX call when any of `items` is a proxy (hidden in slices, where Node.call cannot see it)."""
    proxy = next((i for i in items if is_traced(i)), None)
    if proxy is None:
        return fn(*args, **kwargs)
    return proxy.tracer.create_proxy("call_function", fn, args, kwargs)


def same(node: Node, data, *rest):
    if not isinstance(data, Dims):
        return None
    if node.op_type != "Cast":
        return data
    if node.attr("to") in (6, 7):
        return replace(data, floating=False)
    return replace(data, floating=True) if node.attr("to") == 1 else None  # float32: sizes stay whole numbers


def arithmetic(fn):
    def handler(node: Node, a, b):
        left, right = _items(node, a), _items(node, b)
        if left is None or right is None or len(left[0]) != len(right[0]) and 1 not in (len(left[0]), len(right[0])):
            return None
        n = max(len(left[0]), len(right[0]))
        xs = left[0] * n if len(left[0]) == 1 else left[0]
        ys = right[0] * n if len(right[0]) == 1 else right[0]
        source = next((v.source for v in (a, b) if isinstance(v, Dims)), None)
        return Dims(tuple(fn(x, y) for x, y in zip(xs, ys, strict=True)), left[1] and right[1], source)

    return handler


def equal(node: Node, a, b):
    """Sizes compared with constants: tf2onnx's `size == -1` test in tf.slice's ends is False for every size."""
    left, right = _items(node, a), _items(node, b)
    if left is None or right is None or len(left[0]) != len(right[0]) and 1 not in (len(left[0]), len(right[0])):
        return None
    n = max(len(left[0]), len(right[0]))
    pairs = zip(left[0] * n if len(left[0]) == 1 else left[0], right[0] * n if len(right[0]) == 1 else right[0],
                strict=True)
    items = []
    for x, y in pairs:
        if isinstance(x, int) and isinstance(y, int):
            items.append(int(x == y))
        elif isinstance(x, int) and x < 0 or isinstance(y, int) and y < 0:
            items.append(0)  # a size is never negative
        else:
            return None
    source = next((v.source for v in (a, b) if isinstance(v, Dims)), None)
    return Dims(tuple(items), left[1] and right[1], source)


def size_max(a: Any, b: Any) -> Any:
    """The larger of two sizes, without a guard: SymInts under torch.export, 0-d tensors in a TorchScript trace."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return torch.maximum(torch.as_tensor(a), torch.as_tensor(b))
    return torch.sym_max(a, b)


def size_min(a: Any, b: Any) -> Any:
    """The smaller of two sizes (see size_max)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return torch.minimum(torch.as_tensor(a), torch.as_tensor(b))
    return torch.sym_min(a, b)


def extreme(pick):
    """Max / Min of sizes (an einsum's broadcast batch dims): ints at once, symbolic sizes by size_max/min."""
    symbolic = size_max if pick is max else size_min

    def handler(node: Node, *parts):
        got = [_items(node, part) for part in parts]
        lengths = {len(g[0]) for g in got if g is not None}
        if any(g is None for g in got) or len(lengths - {1}) > 1:
            return None
        n = max(lengths)
        rows = [g[0] * n if len(g[0]) == 1 else g[0] for g in got]
        items = []
        for column in zip(*rows, strict=True):
            known = [v for v in column if isinstance(v, int)]
            value = pick(known) if len(known) == len(column) else None
            for v in column if value is None else ():
                value = v if value is None else _traced_call(symbolic, [value, v], value, v)
            items.append(value)
        source = next((p.source for p in parts if isinstance(p, Dims)), None)
        return Dims(tuple(items), all(g[1] for g in got), source)

    return handler


def reduce_prod(node: Node, data, axes=None):
    """The product of sizes (the rows a Reshape flattens): one size, kept 1-D unless keepdims=0."""
    if not isinstance(data, Dims) or data.floating or data.scalar:
        return None
    given = node.attr("axes") if axes is None else (None if is_traced(axes) else axes.reshape(-1).tolist())
    if given not in (None, [], [0], [-1]):
        return None
    product = functools.reduce(operator.mul, data.items, 1)
    return replace(data, items=(product,), scalar=not node.attr("keepdims", 1))


def reshape(node: Node, x, target):
    if isinstance(x, Dims):
        if not isinstance(target, torch.Tensor):
            return None
        dims = [int(d) for d in target.reshape(-1).tolist()]
        return replace(x, scalar=not dims) if dims in ([], [-1], [1], [len(x.items)]) else None
    if not isinstance(target, Dims):
        return None
    zeros = [isinstance(d, int) and d == 0 for d in target.items]
    if node.attr("allowzero", 0) and any(zeros):
        return None
    return x.reshape([x.size(i) if zero else d for i, (zero, d) in enumerate(zip(zeros, target.items, strict=True))])


def expand(node: Node, x, target):
    if isinstance(x, Dims):
        if not x.known:
            return None
        x = materialize(x)
    shape = tuple(x.shape) if isinstance(x, torch.Tensor) else node.shape(0)
    if not isinstance(target, Dims) or shape is None or len(shape) > len(target.items):
        return None
    offset = len(target.items) - len(shape)
    sizes = []
    for i, d in enumerate(target.items):
        own = shape[i - offset] if i >= offset else 1
        if own is None and isinstance(d, int) and d == 1:
            return None  # ONNX keeps x's dim where the target says 1, and that dim is unknown here
        sizes.append(d if own in (1, None) else -1)
    return x.expand(sizes)


def constant_of_shape(node: Node, target):
    if not isinstance(target, Dims) or target.scalar:
        return None
    value = node.attr("value")
    fill = torch.zeros(1) if value is None else tensor_of(value)
    return torch.full(target.as_list(), fill.reshape(()).item(), dtype=fill.dtype)


# The `dims=` of the arithmetic ops, by op type (Div on sizes is integer division).
ARITHMETIC = {
    "Add": arithmetic(operator.add),
    "Sub": arithmetic(operator.sub),
    "Mul": arithmetic(operator.mul),
    "Div": arithmetic(operator.floordiv),
    "Equal": equal,
    "Max": extreme(max),
    "Min": extreme(min),
}
