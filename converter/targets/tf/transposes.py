"""Count the Transpose ops in a converted module's traced graph (nested functions included)."""

from __future__ import annotations

from typing import Any

__all__ = ["count_transposes"]


def count_transposes(module: Any) -> int:
    """Transpose ops in `module.call`'s graph, including while/cond bodies."""
    graph_def = module.call.get_concrete_function().graph.as_graph_def()
    count = sum(node.op == "Transpose" for node in graph_def.node)
    for function in graph_def.library.function:
        count += sum(node.op == "Transpose" for node in function.node_def)
    return count
