"""What a handler sees of the node it converts: attributes, value types, and a way to emit calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import onnx
import torch
import torch.fx

from converter.core.errors import UnsupportedOpError
from converter.targets.node import OnnxNode

__all__ = ["Node", "ValueType", "RuntimeOnly", "is_traced"]


class RuntimeOnly(UnsupportedOpError):
    """A handler needs a value (rank, axes, sizes) known only when the module runs; the node then runs eagerly."""


@dataclass(frozen=True)
class ValueType:
    """What is known before running of one value: its dtype and its dims (None where symbolic)."""

    dtype: torch.dtype | None = None
    shape: tuple[int | None, ...] | None = None


def is_traced(value: Any) -> bool:
    """Whether `value` is only known when the module runs (an FX proxy), not at conversion time."""
    return isinstance(value, torch.fx.Proxy)


@dataclass(frozen=True)
class Node(OnnxNode):
    """One ONNX node during conversion; `convert_graph` converts a subgraph attribute in the current scope."""

    inputs: tuple[ValueType, ...]
    outputs: tuple[ValueType, ...]
    convert_graph: Callable[[onnx.GraphProto], tuple[torch.fx.GraphModule, list[Any]]] | None = None
    inline_graph: Callable[[onnx.GraphProto, Sequence[Any]], list[Any]] | None = None

    def runtime_only(self, reason: str) -> RuntimeOnly:
        """The error to raise when the node can only be converted with values known at run time."""
        return RuntimeOnly(self.name, self.op_type, self.opset, reason)

    def submodule(self, graph: onnx.GraphProto) -> tuple[Any, list[Any]]:
        """A subgraph as a submodule (referenced from the FX graph) and the outer values it captures."""
        if self.convert_graph is None:
            raise self.unsupported("subgraphs cannot be converted here")
        return self.convert_graph(graph)

    def shape(self, index: int = 0) -> tuple[int | None, ...] | None:
        """The dims of input `index` as far as known before running."""
        return self.inputs[index].shape if index < len(self.inputs) else None

    def static_shape(self, index: int = 0) -> tuple[int, ...] | None:
        """The dims of input `index` when all are known, else None."""
        shape = self.shape(index)
        return None if shape is None or None in shape else tuple(int(d) for d in shape)  # type: ignore[arg-type]

    def rank(self, index: int = 0) -> int:
        """The rank of input `index`; refuses the node when it is unknown."""
        shape = self.shape(index)
        if shape is None:
            raise RuntimeOnly(self.name, self.op_type, self.opset, f"the rank of input {index} is unknown")
        return len(shape)

    def dtype(self, index: int = 0) -> torch.dtype | None:
        return self.inputs[index].dtype if index < len(self.inputs) else None

    def out_dtype(self, index: int = 0) -> torch.dtype | None:
        return self.outputs[index].dtype if index < len(self.outputs) else None

    def ints(self, value: Any, what: str) -> list[int]:
        """A constant integer tensor as a list; refuses the node when it is only known at run time."""
        if is_traced(value):
            raise RuntimeOnly(self.name, self.op_type, self.opset, f"{what} must be a constant")
        return [int(v) for v in torch.as_tensor(value).reshape(-1).tolist()]

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` now when every argument is known, else one FX call_function node."""
        traced = [a for a in _flatten(args) + _flatten(tuple(kwargs.values())) if is_traced(a)]
        if not traced:
            return fn(*args, **kwargs)
        return traced[0].tracer.create_proxy("call_function", fn, args, kwargs)


def _flatten(values: Sequence[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            flat.extend(_flatten(value))
        else:
            flat.append(value)
    return flat
