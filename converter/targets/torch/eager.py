"""A node whose handler needs run-time values (axes as an input, an unknown rank) runs eagerly as a submodule."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from converter.targets.registry import Handler
from converter.targets.torch.node import Node, ValueType

__all__ = ["EagerOp"]


class EagerOp(torch.nn.Module):
    """Runs one ONNX node's handler eagerly; FX shows it as one call_module node named after the ONNX node."""

    def __init__(self, node: Node, handler: Handler):
        super().__init__()
        self.node = dataclasses.replace(node, convert_graph=None)
        self.handler = handler

    def forward(self, *inputs: Any) -> Any:
        types = tuple(
            ValueType(v.dtype, tuple(v.shape)) if isinstance(v, torch.Tensor) else ValueType() for v in inputs
        )
        return self.handler(dataclasses.replace(self.node, inputs=types), *inputs)

    def extra_repr(self) -> str:
        return f"{self.node.op_type} '{self.node.name}' (opset {self.node.opset})"
