"""What a PyTorch file holds, read without tracing: for `inspect` when no input shapes are known."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from converter.core.errors import GraphtoolError

__all__ = ["Contents", "NeedsInputsError", "describe_module"]


@dataclass(frozen=True)
class Contents:
    """A module's parameters, submodules, forward() signature and (TorchScript) graph ops, untraced."""

    source: dict
    signature: tuple[str, ...]  # forward()'s arguments, with their declared types where the file keeps them
    parameter_count: int
    parameter_bytes: int
    buffer_count: int
    submodules: dict[str, str]  # top-level child name -> its class
    op_types: dict[str, int]  # TorchScript graph ops (aten::conv2d ...), inlined; empty for Python modules
    hint: str  # the option that would let graphtool trace it

    def to_dict(self) -> dict:
        return {
            "source": self.source, "traced": False, "signature": list(self.signature),
            "parameters": {"count": self.parameter_count, "bytes": self.parameter_bytes},
            "buffers": self.buffer_count, "submodules": self.submodules, "op_types": self.op_types,
            "node_count": sum(self.op_types.values()), "hint": self.hint,
        }


class NeedsInputsError(GraphtoolError):
    """The model cannot be traced without input shapes; `contents` says what it holds meanwhile."""

    def __init__(self, message: str, names: list[str]):
        super().__init__(message)
        self.names = names
        self.contents: Contents | None = None


def describe_module(module: Any, source: dict, missing: list[str]) -> Contents:
    """Read a torch module's parameters, children, signature and TorchScript graph without running it."""
    parameters = list(module.parameters())
    count = sum(int(p.numel()) for p in parameters)
    size = sum(int(p.numel()) * p.element_size() for p in parameters)
    children = {name: type(child).__name__ if not hasattr(child, "original_name") else child.original_name
                for name, child in module.named_children()}
    example = missing[0] if missing else "x"
    hint = (f"pass --input NAME:DIMS[:DTYPE] for {', '.join(missing)} (e.g. --input {example}:batch,16) "
            "or --inputs data.npz to trace it")
    return Contents(source, _signature(module), count, size, sum(1 for _ in module.buffers()), children,
                    _graph_ops(module), hint)


def _signature(module: Any) -> tuple[str, ...]:
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is not None:  # a ScriptModule keeps its argument types
        return tuple(f"{a.name}: {a.type}" for a in schema.arguments[1:])
    import inspect

    try:
        parameters = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(str(p) for p in parameters)


def _graph_ops(module: Any) -> dict[str, int]:
    graph = getattr(module, "inlined_graph", None)
    if graph is None:
        return {}
    skip = {"prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::TupleConstruct",
            "prim::TupleUnpack", "prim::ListUnpack", "prim::NumToTensor"}
    counts = Counter(node.kind() for node in graph.nodes() if node.kind() not in skip)
    return dict(counts.most_common())
