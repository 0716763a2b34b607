"""What a handler sees of the node it converts: attributes, opset, and a way to refuse it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from converter.errors import UnsupportedOpError

__all__ = ["Node"]


@dataclass(frozen=True)
class Node:
    """One ONNX node during conversion; `run_graph` converts a subgraph attribute in the current scope."""

    proto: onnx.NodeProto
    opset: int
    attrs: dict[str, Any]
    run_graph: Callable[[onnx.GraphProto, Sequence[Any]], list[Any]] | None = None
    layout: Any = field(default=None)

    @property
    def name(self) -> str:
        return self.proto.name or (self.proto.output[0] if self.proto.output else self.proto.op_type)

    @property
    def op_type(self) -> str:
        return self.proto.op_type

    @property
    def num_outputs(self) -> int:
        return len(self.proto.output)

    def output_used(self, index: int) -> bool:
        """Whether the node's output `index` exists and has a name."""
        return index < len(self.proto.output) and bool(self.proto.output[index])

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def unsupported(self, reason: str) -> UnsupportedOpError:
        """The error to raise for an attribute value or input this converter cannot handle."""
        return UnsupportedOpError(self.name, self.op_type, self.opset, reason)
