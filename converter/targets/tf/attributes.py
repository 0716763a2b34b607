"""Read an ONNX node's attributes into a plain dict (framework-neutral; could be shared)."""

from __future__ import annotations

from typing import Any

import onnx
from onnx import numpy_helper

__all__ = ["read_attributes"]


def read_attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """Attribute name -> Python value (ints, floats, strings, numpy tensors, graphs, lists)."""
    return {attr.name: _value(attr) for attr in node.attribute}


def _value(attr: onnx.AttributeProto) -> Any:
    kind = onnx.AttributeProto
    if attr.type == kind.INT:
        return attr.i
    if attr.type == kind.FLOAT:
        return attr.f
    if attr.type == kind.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if attr.type == kind.TENSOR:
        return numpy_helper.to_array(attr.t)
    if attr.type == kind.GRAPH:
        return attr.g
    if attr.type == kind.INTS:
        return list(attr.ints)
    if attr.type == kind.FLOATS:
        return list(attr.floats)
    if attr.type == kind.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if attr.type == kind.TENSORS:
        return [numpy_helper.to_array(t) for t in attr.tensors]
    if attr.type == kind.GRAPHS:
        return list(attr.graphs)
    if attr.type == kind.SPARSE_TENSOR:
        return attr.sparse_tensor
    return None
