"""Where each tensor's layout is tracked: ONNX order, or channels-last (NCHW kept as NHWC)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from converter.targets.tf.node import Node

__all__ = [
    "Layouts",
    "Layout",
    "axis_layout",
    "to_channels_last",
    "to_channels_first",
    "actual_axis",
    "CHANNELS_LAST",
    "ELEMENTWISE",
]

# remap(node, args, ndim, actual) -> (node, args) with axes rewritten for channels-last data, or None.
Remap = Callable[[Node, list, int, Callable[[int], int]], "tuple[Node, list] | None"]


@dataclass(frozen=True)
class Layout:
    """How a registered handler treats channels-last data (carried by its registry entry)."""

    kind: str
    remap: Remap | None = None
    all_inputs: bool = False  # every input is data of the same rank (Concat), not only the first
    outputs_last: bool = True  # its outputs keep the channels-last layout (False for Shape)


# First input and first output are channels-last (Conv, pooling).
CHANNELS_LAST = Layout("channels_last")
# Pointwise (broadcasting): computes in whatever layout its inputs share.
ELEMENTWISE = Layout("elementwise")


def axis_layout(remap: Remap, all_inputs: bool = False, outputs_last: bool = True) -> Layout:
    """A handler that runs on channels-last data once `remap` rewrites its axes."""
    return Layout("axes", remap, all_inputs, outputs_last)


def _perm(ndim: int) -> list[int]:
    return [0, *range(2, ndim), 1] if ndim >= 3 else list(range(ndim))


def _inverse(ndim: int) -> list[int]:
    return [0, ndim - 1, *range(1, ndim - 1)] if ndim >= 3 else list(range(ndim))


def to_channels_last(value: Any) -> Any:
    """NC... -> N...C; numpy constants are permuted at conversion time, not in the graph."""
    return _permute(value, _perm(_rank(value)))


def to_channels_first(value: Any) -> Any:
    """N...C -> NC..., the inverse of `to_channels_last`."""
    return _permute(value, _inverse(_rank(value)))


def actual_axis(onnx_axis: int, ndim: int) -> int:
    """Where ONNX axis `onnx_axis` lives in the channels-last tensor."""
    return _perm(ndim).index(onnx_axis % ndim)


def _rank(value: Any) -> int:
    return value.ndim if isinstance(value, np.ndarray) else len(value.shape)


def _permute(value: Any, perm: list[int]) -> Any:
    if perm == sorted(perm):
        return value
    if isinstance(value, np.ndarray):
        return np.transpose(value, perm)
    dims = value.shape.as_list()
    moving = [p for p in perm if dims[p] != 1]
    if moving == sorted(moving) and dims.count(None) <= 1:
        # Only size-1 axes move: a reshape, which costs nothing, does the same.
        return tf.reshape(value, [-1 if d is None else d for d in (dims[p] for p in perm)])
    return tf.transpose(value, perm)


def _known_rank(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray | np.generic):
        return np.ndim(value)
    shape = getattr(value, "shape", None)
    return None if shape is None or shape.rank is None else shape.rank


def _broadcast_last(value: Any, ndim: int) -> Any:
    """An ONNX-layout operand of a broadcasting op, made to broadcast against channels-last data."""
    rank = _known_rank(value)
    if rank == 0:
        return value
    if isinstance(value, np.ndarray | np.generic):
        return to_channels_last(np.reshape(value, (1,) * (ndim - rank) + np.shape(value)))
    if rank < ndim:
        value = tf.reshape(value, [1] * (ndim - rank) + [-1 if d is None else d for d in value.shape.as_list()])
    return to_channels_last(value)


class Layouts:
    """Values by ONNX name, each in ONNX layout or channels-last, converted lazily when asked."""

    def __init__(self, parent: Mapping[str, Any] | None = None):
        self._parent = parent if parent is not None else {}
        self._onnx: dict[str, Any] = {}
        self._last: dict[str, Any] = {}

    def set_onnx(self, name: str, value: Any) -> None:
        self._onnx[name] = value
        self._last.pop(name, None)

    def set_last(self, name: str, value: Any) -> None:
        self._last[name] = value
        self._onnx.pop(name, None)

    def is_last(self, name: str) -> bool:
        return name in self._last and name not in self._onnx

    def onnx(self, name: str) -> Any:
        """The value in ONNX layout (transposed back once, then cached)."""
        if name in self._onnx:
            return self._onnx[name]
        if name in self._last:
            self._onnx[name] = to_channels_first(self._last[name])
            return self._onnx[name]
        if name in self._parent:
            return self._parent[name]
        raise KeyError(f"value '{name}' is used before it is computed")

    def last(self, name: str) -> Any:
        """The value in channels-last layout (transposed once, then cached)."""
        if name not in self._last:
            self._last[name] = to_channels_last(self.onnx(name))
        return self._last[name]

    def onnx_scope(self) -> Mapping[str, Any]:
        """A read-only view in ONNX layout for subgraphs, converting only what they use."""
        return _OnnxView(self)

    def apply(self, node: Node, handler: Callable, layout: Layout | None, propagate: bool) -> None:
        """Run `handler` on the node's inputs and store its outputs, minding the handler's layout."""
        names = list(node.proto.input)
        if layout == CHANNELS_LAST and names and names[0]:
            args = [self.last(names[0])] + [self.onnx(n) if n else None for n in names[1:]]
            outputs = _as_list(handler(node, *args))
            first, rest = outputs[0], outputs[1:]
            if propagate:
                self.set_last(node.proto.output[0], first)
            else:
                self.set_onnx(node.proto.output[0], to_channels_first(first))
            self._store(node, rest, start=1)
            return
        if propagate and layout == ELEMENTWISE and self._elementwise_last(names):
            ndim = max(_known_rank(self._peek(n)) or 0 for n in names if n)
            args = [self._operand(n, ndim) for n in names]
            self._store(node, _as_list(handler(node, *args)), start=0, last=True)
            return
        if propagate and layout is not None and layout.kind == "axes" and self._axes_last(names, layout):
            data = names if layout.all_inputs else names[:1]
            args = [self.last(n) if n in data and n else (self.onnx(n) if n else None) for n in names]
            ndim = _known_rank(args[0])
            remapped = layout.remap(node, args, ndim, lambda a: actual_axis(a, ndim))
            if remapped is not None:
                new_node, new_args = remapped
                self._store(new_node, _as_list(handler(new_node, *new_args)), 0, layout.outputs_last)
                return
        args = [self.onnx(n) if n else None for n in names]
        folded = _fold(node, handler, args)
        self._store(node, folded if folded is not None else _as_list(handler(node, *args)), start=0)

    def _operand(self, name: str, ndim: int) -> Any:
        if not name:
            return None
        if self.is_last(name) or _known_rank(self._peek(name)) == ndim:
            return self.last(name)
        return _broadcast_last(self.onnx(name), ndim)

    def _peek(self, name: str) -> Any:
        """The value in whichever layout it has now (for its rank)."""
        return self._last.get(name) if self.is_last(name) else self.onnx(name)

    def _elementwise_last(self, names: list[str]) -> bool:
        """Whether to compute channels-last: some input is, and all such inputs have the top rank."""
        ranks = [_known_rank(self._peek(n)) for n in names if n]
        if None in ranks or not ranks:
            return False
        top = max(ranks)
        last = [_known_rank(self._peek(n)) for n in names if n and self.is_last(n)]
        return top >= 3 and bool(last) and all(r == top for r in last)

    def _axes_last(self, names: list[str], layout: Layout) -> bool:
        data = [n for n in (names if layout.all_inputs else names[:1]) if n]
        if not data or not any(self.is_last(n) for n in data):
            return False
        ranks = {_known_rank(self._peek(n)) for n in data}
        return len(ranks) == 1 and None not in ranks and min(ranks) >= 3

    def _store(self, node: Node, values: list[Any], start: int, last: bool = False) -> None:
        for name, value in zip(node.proto.output[start:], values, strict=False):
            if not name:
                continue
            if last and (_known_rank(value) or 0) >= 3:
                self.set_last(name, value)
            else:
                self.set_onnx(name, value)

    def __contains__(self, name: str) -> bool:
        return name in self._onnx or name in self._last or name in self._parent


# Largest result (in elements) that constant folding embeds in the graph.
FOLD_MAX_ELEMENTS = 1 << 16


def _fold(node: Node, handler: Callable, args: list[Any]) -> list[np.ndarray] | None:
    """Evaluate a node whose inputs are all constants once, at conversion time (shape arithmetic)."""
    present = [a for a in args if a is not None]
    if not present or not all(isinstance(a, np.ndarray | np.generic) for a in present):
        return None
    if any(attr.type in (attr.GRAPH, attr.GRAPHS) for attr in node.proto.attribute):
        return None
    with tf.init_scope():
        outputs = _as_list(handler(node, *args))
    if not all(isinstance(o, np.ndarray | np.generic) or hasattr(o, "numpy") for o in outputs):
        return None
    arrays = [np.asarray(o) if isinstance(o, np.ndarray | np.generic) else o.numpy() for o in outputs]
    if sum(a.size for a in arrays) > FOLD_MAX_ELEMENTS or any(a.dtype == object for a in arrays):
        return None
    return arrays


def _as_list(result: Any) -> list[Any]:
    return list(result) if isinstance(result, list | tuple) else [result]


class _OnnxView(Mapping):
    """Mapping adapter: names -> values in ONNX layout."""

    def __init__(self, layouts: Layouts):
        self._layouts = layouts

    def __getitem__(self, name: str) -> Any:
        try:
            return self._layouts.onnx(name)
        except KeyError:
            raise KeyError(name) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._layouts

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0
