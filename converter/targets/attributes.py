"""ONNX node attributes as Python values; shared by the TensorFlow and PyTorch converters."""

from __future__ import annotations

from typing import Any

import onnx
from onnx import numpy_helper

__all__ = ["read_attributes"]


def read_attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """Attribute name -> Python value (ints, floats, strings, numpy arrays, graphs, lists)."""
    return {attr.name: _value(attr) for attr in node.attribute}


def _value(attr: onnx.AttributeProto) -> Any:
    kind = onnx.AttributeProto
    readers = {
        kind.INT: lambda a: a.i,
        kind.FLOAT: lambda a: a.f,
        kind.STRING: lambda a: a.s.decode("utf-8", errors="replace"),
        kind.TENSOR: lambda a: numpy_helper.to_array(a.t),
        kind.GRAPH: lambda a: a.g,
        kind.INTS: lambda a: list(a.ints),
        kind.FLOATS: lambda a: list(a.floats),
        kind.STRINGS: lambda a: [s.decode("utf-8", errors="replace") for s in a.strings],
        kind.TENSORS: lambda a: [numpy_helper.to_array(t) for t in a.tensors],
        kind.GRAPHS: lambda a: list(a.graphs),
        kind.SPARSE_TENSOR: lambda a: a.sparse_tensor,
    }
    reader = readers.get(attr.type)
    return reader(attr) if reader else None
