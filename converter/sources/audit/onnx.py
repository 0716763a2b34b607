"""Audit an ONNX model: every node's op must be standard ONNX, onnxruntime's contrib set, or a local function."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from functools import cache
from operator import attrgetter

import onnx

from converter.core.onnx_utils import subgraphs_of
from converter.sources.audit.allowlists import ONNX_STANDARD_DOMAINS, ORT_CONTRIB_DOMAINS
from converter.sources.audit.findings import Audit, Finding

__all__ = ["audit_onnx", "KEPT"]

KEPT = "stays in the model: onnxruntime runs it only where its custom op library is registered"


def audit_onnx(model: onnx.ModelProto, path: str) -> Audit:
    """Name every node whose (domain, op) no standard runtime defines, before anything runs it."""
    local = {(f.domain, f.name) for f in model.functions}
    counts: Counter[str] = Counter()
    findings = []
    places = list(_places(model))
    for where, nodes in places:
        # categorize each distinct (domain, op) once: a 100k-node graph has a handful of them
        kinds = Counter(map(_KIND, nodes))
        for (domain, op_type), count in kinds.items():
            counts[_op_label(domain, op_type)] += count
        flagged = {kind for kind in kinds if kind not in local and _category(*kind)}
        for node in nodes if flagged else ():
            if (node.domain, node.op_type) in flagged:
                findings.append(Finding(_op_label(node.domain, node.op_type), _category(node.domain, node.op_type),
                                        where, node.name or "(unnamed)"))
    return Audit(path, "onnx", len(places), dict(counts.most_common()), tuple(findings))


_KIND = attrgetter("domain", "op_type")


def _op_label(domain: str, op_type: str) -> str:
    return f"{domain}::{op_type}" if domain not in ("", "ai.onnx") else op_type


def _category(domain: str, op_type: str) -> str | None:
    if domain in ONNX_STANDARD_DOMAINS:
        return None if onnx.defs.has(op_type, domain) else "not an op of the ONNX standard"
    if domain in ORT_CONTRIB_DOMAINS:
        return None if (domain, op_type) in _contrib_ops() else "not an onnxruntime contrib op"
    return f"custom domain '{domain}', which needs a custom op library"


@cache
def _contrib_ops() -> frozenset[tuple[str, str]]:
    """onnxruntime's own operator schemas; read only when a model uses its domains."""
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

    return frozenset((schema.domain, schema.name) for schema in ort_state.get_all_operator_schema())


def _places(model: onnx.ModelProto) -> Iterator[tuple[str, list[onnx.NodeProto]]]:
    """The main graph and every local function body, with their subgraphs, each with a name to report."""
    yield from _with_subgraphs(f"graph '{model.graph.name or 'main'}'", model.graph.node)
    for function in model.functions:
        yield from _with_subgraphs(f"function '{function.domain}.{function.name}'", function.node)


def _with_subgraphs(where: str, nodes: Iterable[onnx.NodeProto]) -> Iterator[tuple[str, list[onnx.NodeProto]]]:
    """These nodes, then each subgraph (If branches, Loop and Scan bodies) under the path of the node holding it."""
    nodes = list(nodes)
    yield where, nodes
    for node in nodes:
        for attribute in node.attribute:
            for graph in subgraphs_of(attribute):
                yield from _with_subgraphs(f"{where} > {node.op_type} '{node.name}'.{attribute.name}", graph.node)
