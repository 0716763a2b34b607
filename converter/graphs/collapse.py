"""Decide what a diagram draws: each graph node either on its own or folded into a box.

A box is a collapsed scope (``('scope', 'encoder/layers.0')``), a run of unchanged nodes in a diff
(``('region', scope, n)``) or, for a huge graph without scopes, a segment of consecutive ops
(``('segment', n)``). Unknown scope or node names raise GraphtoolError listing the closest names.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import networkx as nx

from converter.core.errors import GraphtoolError
from converter.core.scopes import scope_parts

__all__ = ["Plan", "plan_scopes", "plan_diff", "all_scopes", "resolve_node", "resolve_scopes", "focus"]

Item = str | tuple


@dataclass(frozen=True)
class Plan:
    """Which item draws each node; items are node ids or box keys."""

    item_of: dict[str, Item]
    depth: int | None
    notes: tuple[str, ...] = ()

    @property
    def items(self) -> int:
        """How many things the diagram draws."""
        return len(set(self.item_of.values()))


def draw_scope(g: nx.MultiDiGraph, node: str) -> str:
    """The scope a node is drawn in: an initializer goes with its first consumer."""
    data = g.nodes[node]
    if data["kind"] == "initializer":
        users = [v for _, v in g.out_edges(node)]
        if users:
            return g.nodes[min(users, key=lambda v: g.nodes[v]["index"])]["scope"]
    return data["scope"] if data["kind"] in ("op", "initializer") else ""


def all_scopes(g: nx.MultiDiGraph) -> list[str]:
    """Every scope path of the graph, with all its ancestors, sorted."""
    scopes: set[str] = set()
    for _, scope in g.nodes(data="scope"):
        parts = scope_parts(scope or "")
        scopes.update("/".join(parts[:k]) for k in range(1, len(parts) + 1))
    return sorted(scopes)


def resolve_scopes(g: nx.MultiDiGraph, names: Iterable[str]) -> tuple[str, ...]:
    """Check --expand names against the graph's scopes."""
    known = set(all_scopes(g))
    resolved = []
    for name in names:
        scope = "/".join(scope_parts(name))
        if scope not in known:
            raise GraphtoolError(f"unknown scope '{name}'{_closest(name, known)}")
        resolved.append(scope)
    return tuple(resolved)


def resolve_node(g: nx.MultiDiGraph, name: str) -> str:
    """Find a node by id or by name (op, input, output or weight)."""
    if name in g:
        return name
    by_name = [node for node, node_name in g.nodes(data="name") if node_name == name]
    if by_name:
        return by_name[0]
    names = {node_name for _, node_name in g.nodes(data="name")}
    raise GraphtoolError(f"unknown node '{name}'{_closest(name, names)}")


def focus(g: nx.MultiDiGraph, node: str, radius: int) -> nx.MultiDiGraph:
    """The part of the graph within ``radius`` edges of ``node``, in either direction."""
    seen = _near(g, node, radius)
    # a subgraph view would iterate in set order; a copy keeps model order, so output is stable
    part = nx.MultiDiGraph(**g.graph)
    part.add_nodes_from((n, g.nodes[n]) for n in g if n in seen)
    part.add_edges_from((u, v, k, d) for u, v, k, d in g.edges(keys=True, data=True) if u in seen and v in seen)
    return part


def _near(g: nx.MultiDiGraph, node: str, radius: int) -> set[str]:
    seen = {node}
    frontier = [node]
    for _ in range(max(radius, 0)):
        frontier = [n for current in frontier for n in (*g.predecessors(current), *g.successors(current))
                    if n not in seen]
        seen.update(frontier)
    return seen


def _closest(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=5, cutoff=0.4)
    if close:
        return "; closest: " + ", ".join(close)
    return "; none is close" if known else "; the graph has none"


def _box(parts: list[str], depth: int | None, opened: set[str]) -> str | None:
    if depth is None:
        return None
    for k in range(depth + 1, len(parts) + 1):
        prefix = "/".join(parts[:k])
        if prefix not in opened:
            return prefix
    return None


def _opened(expand: Iterable[str]) -> set[str]:
    opened = set()
    for scope in expand:
        parts = scope_parts(scope)
        opened.update("/".join(parts[:k]) for k in range(1, len(parts) + 1))
    return opened


def _assign(g: nx.MultiDiGraph, scopes: dict[str, list[str]], depth: int | None,
            opened: set[str]) -> dict[str, Item]:
    item_of: dict[str, Item] = {}
    for node, parts in scopes.items():
        box = _box(parts, depth, opened) if g.nodes[node]["kind"] in ("op", "initializer") else None
        item_of[node] = ("scope", box) if box is not None else node
    return item_of


def plan_scopes(g: nx.MultiDiGraph, *, depth: int | None = None, expand: Iterable[str] = (),
                budget: int = 0) -> Plan:
    """Collapse scopes deeper than ``depth`` (or, with a budget and no depth, as few as fit)."""
    opened = _opened(expand)
    scopes = {node: scope_parts(draw_scope(g, node)) for node in g}
    if depth is not None or not budget or g.number_of_nodes() <= budget:
        return Plan(_assign(g, scopes, depth, opened), depth)
    deepest = max((len(parts) for parts in scopes.values()), default=0)
    for auto in range(deepest - 1, -1, -1):
        item_of = _assign(g, scopes, auto, opened)
        if len(set(item_of.values())) <= budget:
            return Plan(item_of, auto, (_auto_note(g, auto, len(set(item_of.values())), budget),))
    return _segments(g, budget)


def _auto_note(g: nx.MultiDiGraph, depth: int, items: int, budget: int) -> str:
    return (
        f"the graph has {g.number_of_nodes()} nodes, too many to lay out legibly: scopes deeper than "
        f"{depth} are collapsed ({items} items drawn, budget {budget}); see more with --depth N, "
        "--expand SCOPE or --focus NODE --radius K, or draw everything with --max-nodes 0"
    )


def _segments(g: nx.MultiDiGraph, budget: int) -> Plan:
    ops = [node for node, kind in g.nodes(data="kind") if kind in ("op", "initializer")]
    per_box = -(-len(ops) // max(budget - len(g) + len(ops), 1))
    item_of: dict[str, Item] = {node: node for node in g}
    for position, node in enumerate(ops):
        item_of[node] = ("segment", position // max(per_box, 1))
    note = (
        f"the graph has {g.number_of_nodes()} nodes and too few scopes to collapse: runs of "
        f"{per_box} consecutive nodes are drawn as one box ({len(set(item_of.values()))} items drawn, "
        f"budget {budget}); see more with --focus NODE --radius K, or draw everything with --max-nodes 0"
    )
    return Plan(item_of, None, (note,))


def plan_diff(g: nx.MultiDiGraph, status: dict[str, str], context: int) -> Plan:
    """Draw changed nodes with ``context`` edges around them; fold the unchanged rest into boxes."""
    shown: set[str] = {node for node, kind in g.nodes(data="kind") if kind in ("input", "output")}
    changed = [node for node in g if status.get(node, "unchanged") != "unchanged"]
    for node in changed:
        shown.update(_near(g, node, context))
    for node in list(shown):
        shown.update(u for u, _ in g.in_edges(node) if g.nodes[u]["kind"] == "initializer")
    dirty = {""}
    for node in shown:
        parts = scope_parts(draw_scope(g, node))
        dirty.update("/".join(parts[:k]) for k in range(1, len(parts) + 1))
    item_of: dict[str, Item] = {}
    leftover: dict[str, list[str]] = defaultdict(list)  # unchanged nodes by the dirty scope holding them
    clean_of: dict[str, str | None] = {}
    for node in g:
        if node in shown:
            item_of[node] = node
            continue
        parts = scope_parts(draw_scope(g, node))
        k = next((k for k in range(1, len(parts) + 1) if "/".join(parts[:k]) not in dirty), None)
        clean_of[node] = None if k is None else "/".join(parts[:k])
        leftover["/".join(parts if k is None else parts[: k - 1])].append(node)
    for scope, nodes in leftover.items():
        # neighbouring unchanged scopes and nodes fold into one box; a lone clean scope keeps its name
        components = nx.connected_components(g.subgraph(nodes).to_undirected(as_view=True))
        for n, component in enumerate(sorted(components, key=lambda c: min(g.nodes[x]["index"] for x in c))):
            cleans = {clean_of[node] for node in component}
            only = next(iter(cleans)) if len(cleans) == 1 else None
            key: Item = ("scope", only) if only is not None else ("region", scope, n)
            for node in component:
                item_of[node] = key
    return Plan(item_of, None)
