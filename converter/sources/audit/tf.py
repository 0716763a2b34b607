"""Audit a SavedModel's graph and every function in its library, reading saved_model.pb only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from converter.core.errors import GraphtoolError, first_line
from converter.core.frameworks import require
from converter.sources.audit.allowlists import TF_CHECKPOINT_OPS, TF_PRINTS, tf_category
from converter.sources.audit.findings import Audit, Finding

__all__ = ["audit_savedmodel"]

_TOP = "(top-level graph)"


def audit_savedmodel(path: str) -> Audit:
    """Every node of every meta graph and library function, checked against the pure-op allowlist."""
    require("tensorflow", "tf")
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    except Exception as error:
        raise GraphtoolError(f"{path}: not a readable SavedModel ({first_line(error)})") from error
    counts: Counter[str] = Counter()
    findings: list[Finding] = []
    notices: list[Finding] = []
    functions = 0
    for meta_graph in proto.meta_graphs:
        graph = meta_graph.graph_def
        library = {f.signature.name: f for f in graph.library.function}
        checkpoint = _checkpoint_functions(graph, library, meta_graph.saver_def)
        functions += 1 + len(library)
        for where, nodes in [(_TOP, graph.node), *((name, f.node_def) for name, f in library.items())]:
            for node in nodes:
                counts[node.op] += 1
                if node.op in library:  # a direct call of a library function, audited on its own
                    continue
                if node.op in TF_PRINTS:
                    (findings if _to_file(node) else notices).append(Finding(
                        node.op, "printing to a file" if _to_file(node) else "printing to the console", where,
                        node.name))
                    continue
                category = tf_category(node.op, op_def_registry.get(node.op))
                if category and not (where in checkpoint and node.op in TF_CHECKPOINT_OPS):
                    findings.append(Finding(node.op, category, where, node.name))
    return Audit(path, "savedmodel", functions, dict(counts.most_common()), tuple(findings), tuple(notices))


def _to_file(node: Any) -> bool:
    """tf.print(..., output_stream="file://...") appends to a file; stderr, stdout and the log do not."""
    stream = node.attr["output_stream"].s.decode(errors="replace") if "output_stream" in node.attr else "stderr"
    return stream not in ("stderr", "stdout") and not stream.startswith("log")


def _checkpoint_functions(graph: Any, library: dict[str, Any], saver_def: Any) -> frozenset[str]:
    """Functions only the saver's save and restore nodes reach; a function the model itself calls never counts."""
    saver_nodes = {name.split(":")[0] for name in (saver_def.save_tensor_name, saver_def.restore_op_name) if name}
    from_saver = _closure(_called(n for n in graph.node if n.name in saver_nodes), library)
    others = _called(n for n in graph.node if n.name not in saver_nodes)
    others |= {name for name in library if name not in from_saver}
    return frozenset(from_saver - _closure(others, library))


def _closure(roots: set[str], library: dict[str, Any]) -> set[str]:
    """Library functions reachable from `roots`, the roots included."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or name not in library:
            continue
        seen.add(name)
        stack.extend(_called(library[name].node_def))
    return seen


def _called(nodes: Iterable[Any]) -> set[str]:
    """Names of functions nodes call: by op name or through any function-valued attribute."""
    names: set[str] = set()
    for node in nodes:
        names.add(node.op)
        for value in node.attr.values():
            names.update(_functions_in(value))
    return names


def _functions_in(value: Any) -> Iterator[str]:
    if value.HasField("func"):
        yield value.func.name
    if value.HasField("list"):
        yield from (f.name for f in value.list.func)
