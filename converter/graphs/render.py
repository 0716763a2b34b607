"""Graph view (+ Diff) -> Graphviz DOT source (converter.graphs.files writes it out).

Ops are rounded boxes (op type, name, output shape); inputs, outputs and weights have shapes of
their own; scopes become nested clusters; collapsed scopes are 3-D boxes that count their ops. In a
diff, unchanged nodes are grey, added green, removed red and changed orange.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import graphviz
import networkx as nx

from converter.core.scopes import scope_parts
from converter.graphs.changes import Diff
from converter.graphs.collapse import (
    Item,
    Plan,
    draw_scope,
    focus,
    plan_diff,
    plan_scopes,
    resolve_node,
    resolve_scopes,
)
from converter.graphs.graph import format_shape, node_counts
from converter.graphs.quantized import Folded, fold

__all__ = ["Rendering", "render_graph", "render_diff", "DEFAULT_MAX_NODES", "STATUS_COLORS"]

# dot lays out a few hundred nodes in about a second; thousands take minutes.
DEFAULT_MAX_NODES = 300
# Clusters cost dot far more than nodes (and many small ones can make it fail, "trouble in init_rank"): past
# this many, a scope that holds a single op (with its weights) is drawn in its parent rather than as a cluster.
MAX_CLUSTERS = 40
STATUS_COLORS = {
    "unchanged": ("#9ca3af", "#f3f4f6"),
    "added": ("#15803d", "#bbf7d0"),
    "removed": ("#b91c1c", "#fecaca"),
    "changed": ("#c2410c", "#fed7aa"),
}
_KIND_STYLE = {
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "white"},
    "input": {"shape": "invhouse", "style": "filled", "fillcolor": "#dbeafe"},
    "output": {"shape": "house", "style": "filled", "fillcolor": "#fef3c7"},
    "initializer": {"shape": "note", "style": "filled", "fillcolor": "#f5f5f4", "fontsize": "8"},
    "box": {"shape": "box3d", "style": "filled", "fillcolor": "#e5e7eb"},
}


@dataclass(frozen=True)
class Rendering:
    """A diagram as DOT source, with what was drawn and what was folded away."""

    source: str
    nodes: int  # ops, as inspect and diff count them (graph.COUNTED)
    items: int
    boxes: int
    depth: int | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"nodes": self.nodes, "items": self.items, "boxes": self.boxes, "depth": self.depth,
                "notes": list(self.notes)}


def render_graph(g: nx.MultiDiGraph, *, depth: int | None = None, expand: Iterable[str] = (),
                 focus_node: str | None = None, radius: int = 2, max_nodes: int = DEFAULT_MAX_NODES,
                 title: str | None = None) -> Rendering:
    """Draw a graph view; huge graphs are collapsed to ``max_nodes`` items unless it is 0."""
    expand = resolve_scopes(g, expand)
    highlight = None
    if focus_node is not None:
        highlight = resolve_node(g, focus_node)
        g = focus(g, highlight, radius)
    folded = fold(g)
    plan = _fold_scaffolding(g, plan_scopes(g, depth=depth, expand=expand, budget=max_nodes), folded)
    return _emit(g, plan, {}, _precision_lines(g, folded), highlight, title)


def _fold_scaffolding(g: nx.MultiDiGraph, plan: Plan, folded: Folded) -> Plan:
    """Draw each Q/DQ, rescaling op, Cast and scale of a quantized or half-precision model in the layer it serves,
    as constants are: the diagram shows the float graph's layers, each saying its precision."""
    if not folded.into:
        return plan
    item_of = dict(plan.item_of)
    for node, target in folded.into.items():
        if not target:  # a scale or zero point: with the layer its Q/DQ serves; a Q/DQ before an output: its producer
            near = g.successors(node) if g.nodes[node]["kind"] == "initializer" else g.predecessors(node)
            target = next((n if n in folded.graph and g.nodes[n]["kind"] == "op" else folded.into.get(n, "")
                           for n in near if g.nodes[n]["kind"] != "initializer"), "")
        if target:
            item_of[node] = item_of[target]
    return Plan(item_of, plan.depth, plan.notes)


def _precision_lines(g: nx.MultiDiGraph, folded: Folded) -> dict[str, str]:
    """'int8' under each op that computes in low precision, the stored dtype under each weight kept in one."""
    lines = {}
    for node, data in folded.graph.nodes(data=True):
        if data["kind"] == "op" and "precision" in data:
            lines[node] = data["precision"]
        elif "stored" in data:
            lines[node] = data["stored"]["dtype"]
    return lines


def render_diff(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, diff: Diff, *, context: int = 1,
                max_nodes: int = DEFAULT_MAX_NODES, title: str | None = None) -> Rendering:
    """Draw B with A's removed nodes, coloured by change; unchanged regions are collapsed."""
    union, status, details = _union(ga, gb, diff)
    plan = plan_diff(union, status, context)
    if max_nodes and plan.items > max_nodes and context:
        plan = plan_diff(union, status, 0)
    if max_nodes and plan.items > max_nodes:
        plan = plan_scopes(union, budget=max_nodes)
        note = (f"the changes touch too much of the graph to draw one by one: it is collapsed to "
                f"{plan.items} boxes and nodes (budget {max_nodes}); each box counts the changes inside it")
        plan = Plan(plan.item_of, plan.depth, (note,))
    return _emit(union, plan, status, details, None, title)


def _union(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, diff: Diff):
    matched = dict(diff.matches)
    matched_b = set(matched.values())
    union = nx.MultiDiGraph(**gb.graph)
    union.add_nodes_from(gb.nodes(data=True))
    union.add_edges_from(gb.edges(keys=True, data=True))
    scaffolding = diff.precision.folded_a | diff.precision.folded_b if diff.precision else frozenset()
    status = {node: ("unchanged" if node in matched_b or node in scaffolding else "added") for node in gb}
    removed = {node: f"a:{node}" for node in ga if node not in matched}
    scope_map = _scope_map(ga, gb, matched)
    for node, new_id in removed.items():
        data = ga.nodes[node]
        union.add_node(new_id, **{**data, "index": len(gb) + data["index"],
                                  "scope": _translate(data["scope"], scope_map)})
        status[new_id] = "unchanged" if node in scaffolding else "removed"
    for u, v, key, data in ga.edges(keys=True, data=True):
        if u in removed or v in removed:
            union.add_edge(removed.get(u) or matched[u], removed.get(v) or matched[v], key=key, **data)
    details: dict[str, str] = {}
    for change in diff.changes:
        if change.b is not None and change.a is not None:
            status[change.b.id] = "changed"
            details[change.b.id] = "; ".join(_short(f.field, f.old, f.new) for f in change.fields)
    return union, status, details


def _scope_map(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, matched: dict[str, str]) -> dict[str, str]:
    """A's scope names in B's terms, learnt from matched ops (their most common counterpart)."""
    votes: dict[str, Counter] = defaultdict(Counter)
    for node_a, node_b in matched.items():
        if ga.nodes[node_a]["kind"] == "op":
            votes[ga.nodes[node_a]["scope"]][gb.nodes[node_b]["scope"]] += 1
    return {scope: counter.most_common(1)[0][0] for scope, counter in votes.items()}


def _translate(scope: str, scope_map: dict[str, str]) -> str:
    parts = scope_parts(scope)
    for k in range(len(parts), 0, -1):
        prefix = "/".join(parts[:k])
        if prefix in scope_map:
            return "/".join(p for p in (scope_map[prefix], *parts[k:]) if p)
    return scope


def _short(field: str, old, new) -> str:
    if field == "values":
        return str(new)
    text = f"{field.removeprefix('attr:')}: {old} → {new}"
    return text if len(text) <= 60 else text[:57] + "..."


def _cluster_of(g: nx.MultiDiGraph, item: Item) -> str:
    if isinstance(item, str):
        return draw_scope(g, item)
    if item[0] == "scope":
        return "/".join(scope_parts(item[1])[:-1])
    if item[0] == "region":
        return item[1]
    return ""


def _node_label(data: dict) -> str:
    kind = data["kind"]
    if kind == "op":
        shapes = " ".join(format_shape(s) for s in data["output_shapes"] if s is not None)
        return "\n".join(line for line in (data["op_type"], _clip(data["name"]), shapes) if line)
    if kind == "initializer":
        return f"{_clip(data['name'])}\n{format_shape(data['shape'])}"
    return f"{_clip(data['name'])}\n{data.get('dtype') or '?'}{format_shape(data.get('shape'))}"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def _box_label(item: tuple, members: list[dict]) -> str:
    ops = Counter(data["op_type"] for data in members if data["kind"] == "op")
    total = sum(ops.values())
    common = ", ".join(f"{count} {op}" for op, count in ops.most_common(3))
    more = ", …" if len(ops) > 3 else ""
    counts = f"{total} op{'s' if total != 1 else ''}" + (f"\n({common}{more})" if common else "")
    if not total:
        counts = f"{len(members)} weight{'s' if len(members) != 1 else ''}"
    if item[0] == "scope":
        return f"{scope_parts(item[1])[-1]}\n{counts}"
    if item[0] == "region":
        return f"{counts.splitlines()[0]} unchanged"
    return f"nodes {min(d['index'] for d in members)}–{max(d['index'] for d in members)}\n{counts}"


def _emit(g: nx.MultiDiGraph, plan: Plan, status: dict[str, str], details: dict[str, str],
          highlight: str | None, title: str | None) -> Rendering:
    hidden = _shared_constants(g, plan, status)
    members: dict[Item, list[str]] = defaultdict(list)
    for node in sorted(g, key=lambda n: g.nodes[n]["index"]):
        if node not in hidden:
            members[plan.item_of[node]].append(node)
    notes = list(plan.notes)
    if hidden:
        notes.append(f"{len(hidden)} constant(s) shared by several boxes or nodes are left out, so they do not "
                     "fan edges across the diagram (--focus NODE shows one with its users)")
    dot_ids = {item: f"n{i}" for i, item in enumerate(members)}
    dot = graphviz.Digraph(name=g.graph.get("name") or "model", strict=False)
    dot.attr(rankdir="TB", fontname="Helvetica", fontsize="11", compound="true")
    if title:
        dot.attr(label=title, labelloc="t")
    dot.attr("node", fontname="Helvetica", fontsize="10")
    dot.attr("edge", fontname="Helvetica", fontsize="8", color="#6b7280")
    clusters: dict[str, list[Item]] = defaultdict(list)
    for item in members:
        clusters[_cluster_of(g, item)].append(item)
    if len(clusters) > MAX_CLUSTERS:
        clusters = _merge_small_clusters(g, clusters)
        notes.append(f"scopes that hold a single op are drawn in their parent scope, so Graphviz lays out "
                     f"{len(clusters)} clusters rather than many tiny ones")
    boxes = sum(1 for item in members if not isinstance(item, str))
    node_lines = {item: _node_attrs(g, item, members[item], status, details, highlight) for item in members}
    _emit_cluster(dot, "", clusters, node_lines, dot_ids, _scope_tree(clusters, dot_ids), [0])
    _emit_edges(dot, g, plan, dot_ids, status, hidden)
    return Rendering(dot.source, node_counts(g)["ops"], len(members), boxes, plan.depth, tuple(notes))


def _shared_constants(g: nx.MultiDiGraph, plan: Plan, status: dict[str, str]) -> set[str]:
    """Unchanged initializers read by more than one drawn item (a Relu6's bounds, used by 35 Clips)."""
    hidden = set()
    for node, kind in g.nodes(data="kind"):
        if kind != "initializer" or status.get(node, "unchanged") != "unchanged":
            continue
        if len({plan.item_of[v] for v in g.successors(node)}) > 1:
            hidden.add(node)
    return hidden


def _merge_small_clusters(g: nx.MultiDiGraph, clusters: dict[str, list[Item]]) -> dict[str, list[Item]]:
    """Move the items of leaf scopes holding at most one op (and its weights) up to their parent scope."""
    scopes = set(clusters)
    parents = {"/".join(scope_parts(scope)[:k]) for scope in scopes for k in range(len(scope_parts(scope)))}
    merged: dict[str, list[Item]] = defaultdict(list)
    for scope, items in clusters.items():
        ops = sum(1 for item in items if not isinstance(item, str) or g.nodes[item]["kind"] == "op")
        target = scope
        if scope and scope not in parents and ops <= 1:
            target = "/".join(scope_parts(scope)[:-1])
        merged[target].extend(items)
    return merged


def _node_attrs(g, item: Item, nodes: list[str], status, details, highlight) -> tuple[str, dict]:
    if isinstance(item, str):
        data = g.nodes[item]
        attrs = dict(_KIND_STYLE[data["kind"]])
        label = _node_label(data)
        state = status.get(item)
        if item in details:
            label += "\n" + details[item]
        if item == highlight:
            attrs["penwidth"] = "3"
    else:
        attrs = dict(_KIND_STYLE["box"])
        label = _box_label(item, [g.nodes[n] for n in nodes])
        states = Counter(status.get(n) for n in nodes)
        state = (None if not status else "unchanged" if set(states) == {"unchanged"}
                 else next(iter(states)) if len(states) == 1 else "changed")
        if state and len(states) > 1:
            label += "\n" + ", ".join(f"{count} {name}" for name, count in sorted(states.items())
                                      if name != "unchanged")
    if state:
        color, fill = STATUS_COLORS[state]
        attrs.update(color=color, fillcolor=fill)
        if state == "unchanged":
            attrs["fontcolor"] = "#6b7280"
    return label, attrs


def _scope_tree(clusters: dict[str, list[Item]], dot_ids) -> dict[str, list[str]]:
    """Children of each cluster scope, ordered by the first item they hold."""
    first: dict[str, int] = {}
    for scope, items in clusters.items():
        index = min(int(dot_ids[item][1:]) for item in items)
        parts = scope_parts(scope)
        for k in range(len(parts) + 1):
            prefix = "/".join(parts[:k])
            first[prefix] = min(first.get(prefix, index), index)
    children: dict[str, list[str]] = defaultdict(list)
    for scope in sorted(first, key=first.__getitem__):
        if scope:
            children["/".join(scope_parts(scope)[:-1])].append(scope)
    return children


def _emit_cluster(dot: graphviz.Digraph, scope: str, clusters: dict[str, list[Item]], node_lines, dot_ids,
                  tree: dict[str, list[str]], counter: list[int]) -> None:
    for item in clusters.get(scope, ()):
        label, attrs = node_lines[item]
        dot.node(dot_ids[item], label=label, **attrs)
    for child in tree.get(scope, ()):
        counter[0] += 1
        with dot.subgraph(name=f"cluster_{counter[0]}") as sub:
            sub.attr(label=scope_parts(child)[-1], style="rounded", color="#9ca3af", fontcolor="#374151")
            _emit_cluster(sub, child, clusters, node_lines, dot_ids, tree, counter)


def _emit_edges(dot: graphviz.Digraph, g: nx.MultiDiGraph, plan: Plan, dot_ids, status, hidden: set[str]) -> None:
    edges: dict[tuple[Item, Item], list[dict]] = defaultdict(list)
    for u, v, data in g.edges(data=True):
        if u in hidden:
            continue
        iu, iv = plan.item_of[u], plan.item_of[v]
        if iu != iv:
            edges[(iu, iv)].append(data)
    for (iu, iv), uses in edges.items():
        attrs = {}
        if len(uses) == 1 and isinstance(iu, str) and isinstance(iv, str) and uses[0]["shape"] is not None:
            attrs["label"] = format_shape(uses[0]["shape"])
        elif len(uses) > 1:
            attrs["label"] = f"×{len(uses)}"
        states = {status.get(iu) if isinstance(iu, str) else None, status.get(iv) if isinstance(iv, str) else None}
        if "removed" in states:
            attrs["color"] = STATUS_COLORS["removed"][0]
        elif "added" in states:
            attrs["color"] = STATUS_COLORS["added"][0]
        dot.edge(dot_ids[iu], dot_ids[iv], **attrs)
