"""Graph views -> the JSON document every viewer draws: nodes with scope, details, diff status and error.

``View.to_dict()`` (``schema: "graphtool.view/1"``)::

    title, kind ('model' | 'diff' | 'validate'), summary {str: number}, notes [str], tolerance (float | None)
    nodes  [{id, name, kind, op, scope, attrs, inputs [{tensor, shape, dtype}], outputs [shape], weights
            [{name, dtype, shape, min, max, mean, std}], source, status, error, divergent}]
    edges  [[source id, target id, shape label]]

Weights are folded into the ops that read them (a node list twice as long helps nobody); ``status`` is
'' | added | removed | changed | weight_changed; ``error`` is the max abs error seen at that node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from converter.graphs.graph import format_shape, tensor_array

__all__ = ["View", "model_view", "diff_view", "error_view", "STATUSES", "SCHEMA"]

SCHEMA = "graphtool.view/1"
STATUSES = ("added", "removed", "changed", "weight_changed")
_REMOVED_PREFIX = "a|"  # ids of nodes shown from model A only (removed by the diff)
_STATS_LIMIT = 50_000_000  # elements; bigger weights show their shape only


@dataclass(frozen=True)
class View:
    """What a viewer draws: one graph (a diff merges B with A's removed nodes) with per-node overlays."""

    title: str
    kind: str
    nodes: tuple[dict, ...]
    edges: tuple[tuple[str, str, str], ...]
    summary: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    tolerance: float | None = None

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "title": self.title, "kind": self.kind, "summary": dict(self.summary),
                "notes": list(self.notes), "tolerance": self.tolerance, "nodes": list(self.nodes),
                "edges": [list(edge) for edge in self.edges]}


def model_view(g: nx.MultiDiGraph, title: str) -> View:
    """One model, no overlays."""
    nodes = [_node(g, node_id) for node_id in _drawn(g)]
    return View(title, "model", tuple(nodes), tuple(_edges(g)), _counts(nodes), tuple(g.graph.get("notes", ())))


def diff_view(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, diff: Any, title: str) -> View:
    """B's graph with each node's diff status, plus A's removed nodes wired to their matched neighbours."""
    status: dict[str, str] = {}
    removed: list[str] = []
    for change in diff.changes:
        if change.element == "op" and change.kind == "removed":
            removed.append(change.a.id)
        elif change.element == "op" and change.b is not None:
            status[change.b.id] = change.kind
        elif change.element == "initializer" and change.b is not None and change.kind != "added":
            for _, user in gb.out_edges(change.b.id):
                status.setdefault(user, "weight_changed")
    nodes = [{**_node(gb, node_id), "status": status.get(node_id, "")} for node_id in _drawn(gb)]
    to_b = {a: b for a, b in diff.matches}
    gone = set(removed)
    for node_id in removed:
        nodes.append({**_node(ga, node_id), "id": _REMOVED_PREFIX + node_id, "status": "removed"})

    def in_view(node_id: str) -> str | None:
        if node_id in gone:
            return _REMOVED_PREFIX + node_id
        return to_b.get(node_id)

    edges = _edges(gb)
    for node_id in removed:
        for source, target, shape in _edges(ga, {node_id}):
            ends = in_view(source), in_view(target)
            if None not in ends:
                edges.append((ends[0], ends[1], shape))
    summary = {**diff.summary, "similarity": diff.similarity}
    return View(title, "diff", tuple(nodes), tuple(dict.fromkeys(edges)), summary, tuple(diff.notes))


def error_view(g: nx.MultiDiGraph, report: dict, title: str) -> View:
    """A validated model with the error of the located node, of its inputs' producers and of the outputs."""
    errors: dict[str, float] = {}
    device = next((d for d in report["devices"] if d["status"] == "failed"), None)
    devices = [device] if device else [d for d in report["devices"] if d["status"] in ("passed", "inconclusive")][:1]
    for entry in devices:
        for output in entry["outputs"]:
            node_id = f"output:{output['name']}"
            if node_id in g:
                errors[node_id] = output["max_abs"]
                for producer, _ in g.in_edges(node_id):
                    errors[producer] = max(errors.get(producer, 0.0), output["max_abs"])
    located = report.get("located")
    divergent = None
    if located:
        divergent = _op_id(g, located["node"])
        producers = {data["tensor"]: source for source, _, data in g.edges(data=True)}
        for item in located["inputs"]:
            source = producers.get(item["tensor"])
            if source is not None and item["max_abs"] is not None:
                errors[source] = item["max_abs"]
        if divergent is not None:
            errors[divergent] = located["max_abs"]
    nodes = [{**_node(g, node_id), "error": errors.get(node_id), "divergent": node_id == divergent}
             for node_id in _drawn(g)]
    tolerance = min((o["atol"] for d in devices for o in d["outputs"]), default=None)
    summary = {"passed": int(bool(report["passed"])), "nodes": len(nodes)}
    notes = [] if located else [report["devices"][0].get("locate_note") or "no divergent node located"]
    return View(title, "validate", tuple(nodes), tuple(_edges(g)), summary,
                tuple(n for n in notes if n and not report["passed"]), tolerance)


def _op_id(g: nx.MultiDiGraph, name: str) -> str | None:
    if f"op:{name}" in g:
        return f"op:{name}"
    return next((n for n, data in g.nodes(data=True) if data["kind"] == "op" and data["name"] == name), None)


def _drawn(g: nx.MultiDiGraph) -> list[str]:
    return [node_id for node_id, kind in g.nodes(data="kind") if kind != "initializer"]


def _counts(nodes: list[dict]) -> dict:
    return {"nodes": len(nodes), "ops": sum(1 for n in nodes if n["kind"] == "op"),
            "scopes": len({n["scope"] for n in nodes if n["scope"]})}


def _edges(g: nx.MultiDiGraph, only: set[str] | None = None) -> list[tuple[str, str, str]]:
    edges = []
    for source, target, data in g.edges(data=True):
        if g.nodes[source]["kind"] == "initializer" or source == target:
            continue
        if only is not None and source not in only and target not in only:
            continue
        edges.append((source, target, format_shape(data.get("shape"))))
    return list(dict.fromkeys(edges))


def _node(g: nx.MultiDiGraph, node_id: str) -> dict:
    data = g.nodes[node_id]
    inputs, weights = [], []
    for source, _, edge in sorted(g.in_edges(node_id, data=True), key=lambda e: e[2].get("slot") or 0):
        shape, dtype = edge.get("shape"), edge.get("dtype")
        if g.nodes[source]["kind"] == "initializer":
            weights.append(_weight_stats(g.nodes[source]))
            shape, dtype = g.nodes[source]["shape"], g.nodes[source]["dtype"]
        inputs.append({"tensor": edge["tensor"], "shape": format_shape(shape), "dtype": dtype})
    outputs = data.get("output_shapes") or ([data["shape"]] if data["kind"] == "input" else [])
    return {
        "id": node_id, "name": data["name"], "kind": data["kind"], "op": data.get("op_type") or data["kind"],
        "scope": data.get("scope", ""), "attrs": data.get("attributes", {}), "inputs": inputs,
        "outputs": [format_shape(shape) for shape in outputs], "weights": weights, "source": data.get("source"),
        "status": "", "error": None, "divergent": False,
    }


def _weight_stats(data: dict) -> dict:
    stats: dict[str, Any] = {"name": data["name"], "dtype": data["dtype"], "shape": format_shape(data["shape"])}
    size = data.get("size") or 0
    if not 0 < size <= _STATS_LIMIT:
        return stats
    try:
        values = tensor_array(data["tensor"])
    except (ValueError, OSError, TypeError):  # external data that is not beside the model
        return stats
    if values.dtype.kind not in "fiub":
        return stats
    values = values.astype(np.float64, copy=False)
    stats.update(min=float(values.min()), max=float(values.max()), mean=float(values.mean()),
                 std=float(values.std()))
    return stats
