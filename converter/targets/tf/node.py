"""What a handler sees of the node it converts: attributes, opset, and a way to refuse it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from converter.targets.node import OnnxNode

__all__ = ["Node"]


@dataclass(frozen=True)
class Node(OnnxNode):
    """One ONNX node during conversion; `run_graph` converts a subgraph attribute in the current scope."""

    run_graph: Callable[[onnx.GraphProto, Sequence[Any]], list[Any]] | None = None
    layout: Any = field(default=None)
