"""What every converter's handlers see of an ONNX node: its attributes, opset, and a way to refuse it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import onnx

from converter.core.errors import UnsupportedOpError

__all__ = ["OnnxNode"]


@dataclass(frozen=True)
class OnnxNode:
    """One ONNX node during conversion; each converter's Node adds what its handlers need."""

    proto: onnx.NodeProto
    opset: int
    attrs: dict[str, Any]

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
