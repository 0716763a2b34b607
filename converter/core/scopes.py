"""Where each ONNX node came from in the source model, kept in node metadata_props.

Every normalized model carries, on every node:
- ``graphtool.scope``: the module path (PyTorch) or name scope (TensorFlow) as local names
  joined by '/', outermost first, e.g. ``encoder/layers.0/self_attn``; '' for the top level.
- ``graphtool.source`` (optional): ``file.py:LINE`` of the user code that created the node.
"""

from __future__ import annotations

import onnx

__all__ = ["SCOPE_KEY", "SOURCE_KEY", "node_scope", "node_source", "scope_parts", "set_node_meta"]

SCOPE_KEY = "graphtool.scope"
SOURCE_KEY = "graphtool.source"


def _meta(node: onnx.NodeProto, key: str) -> str | None:
    for prop in node.metadata_props:
        if prop.key == key:
            return prop.value
    return None


def node_scope(node: onnx.NodeProto) -> str:
    """The node's scope path ('' when it is at the top level or unknown)."""
    return _meta(node, SCOPE_KEY) or ""


def node_source(node: onnx.NodeProto) -> str | None:
    """The node's source location ``file:line``, when the exporter recorded one."""
    return _meta(node, SOURCE_KEY)


def scope_parts(scope: str) -> list[str]:
    """Split a scope path into its levels: 'a/b.0/c' -> ['a', 'b.0', 'c']."""
    return [part for part in scope.split("/") if part]


def set_node_meta(node: onnx.NodeProto, key: str, value: str) -> None:
    """Set (or replace) one metadata_props entry of a node."""
    for prop in node.metadata_props:
        if prop.key == key:
            prop.value = value
            return
    node.metadata_props.add(key=key, value=value)
