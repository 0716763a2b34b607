"""Match the nodes of two graph views by structure, with names only as a hint.

The matcher is near-linear: weights whose values are unique on both sides anchor first (weights only: an axes
or shape constant says how an op is configured, not which op it is; see converter.graphs.roles); then
Weisfeiler-Lehman rounds give every node a hash of its typed, slot-aware
neighbourhood (0..ROUNDS hops); nodes whose hash is unique on both sides become anchors, deepest
hashes first; matches then spread along edges (input slot by input slot, consumers grouped by slot),
and a last pass pairs the nodes left in the same position between matched neighbours (an op whose
type changed). Ties are broken by content (attributes, weight hashes), then names, then model order.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from converter.graphs.graph import tensor_array

__all__ = ["match_graphs", "match_indexed", "ROUNDS"]

ROUNDS = 4
# Below this depth a hash says too little about a node to pair equal-sized groups by model order.
_ORDER_DEPTH = 2


def match_graphs(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, rounds: int = ROUNDS) -> dict[str, str]:
    """Pair node ids of ``ga`` with node ids of ``gb``; returns {id in a: id in b}."""
    matcher = match_indexed(ga, gb, rounds)
    a, b = matcher.a, matcher.b
    return {a.ids[i]: b.ids[j] for i, j in enumerate(matcher.a_to_b) if j >= 0}


def match_indexed(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, rounds: int = ROUNDS) -> _Matcher:
    """The matching by node position (``a_to_b``, ``b_to_a``: -1 where unmatched), with both sides' ids, data and
    integer adjacency (``preds``: per node, its (slot, out slot, producer) triples), for callers that walk them."""
    table: dict[Hashable, int] = {}
    a, b = _Side(ga, table), _Side(gb, table)
    for _ in range(rounds):
        for side in (a, b):
            side.refine(table)
    # Across frameworks (another producer) a converter moves weights between layouts but never resizes them.
    strict = ga.graph.get("producer_name") != gb.graph.get("producer_name")
    matcher = _Matcher(a, b, rounds, strict)
    matcher.run()
    return matcher


def _hint(data: dict[str, Any]) -> Hashable:
    if data["kind"] == "initializer":
        return ("w", data["hash"])
    if data["kind"] == "op":
        return ("op", data["op_type"], repr(sorted(data["attributes"].items())))
    return (data["kind"], data.get("dtype"), repr(data.get("shape")))


class _Side:
    """One graph as integer adjacency lists, with its WL hashes per round."""

    def __init__(self, g: nx.MultiDiGraph, table: dict[Hashable, int]):
        # networkx's own dicts (G._node, G._succ: u -> v -> key -> edge data), walked in the order its views
        # give: the views cost a generator step and a lookup per node and edge
        nodes = g._node
        self.ids = list(nodes)
        index = {node: i for i, node in enumerate(self.ids)}
        data = list(nodes.values())
        self.kinds = [d["kind"] for d in data]
        self.names = [d["name"] for d in data]
        self.data = data
        self._hints: list[Hashable | None] = [None] * len(data)  # content keys, made when first needed
        labels = []
        add = labels.append
        for d in data:  # a label per node: its op type and domain, or its kind (and an initializer's role)
            kind = d["kind"]
            if kind == "op":
                add(table.setdefault(("op", d["domain"], d["op_type"]), len(table)))
            elif kind == "initializer":
                add(table.setdefault(("initializer", d["role"]), len(table)))
            else:
                add(table.setdefault((kind,), len(table)))
        self.labels = labels
        preds: list[list[tuple[int, int, int]]] = [[] for _ in self.ids]
        succs: list[list[tuple[int, int, int]]] = [[] for _ in self.ids]
        for u, targets in g._succ.items():
            iu = index[u]
            out = succs[iu]
            for v, keys in targets.items():
                iv = index[v]
                into = preds[iv]
                for key, edge in keys.items():
                    slot = edge["slot"]
                    if slot is None:
                        slot = _subgraph_output_slot(key)
                    out_slot = edge["out_slot"]
                    into.append((slot, out_slot, iu))
                    out.append((slot, out_slot, iv))
        self.preds, self.succs = preds, succs
        self.hashes: list[list[int]] = [labels]
        self._shapes, self._neighbours = _neighbourhoods(preds, succs)

    def hint(self, i: int) -> Hashable:
        """The node's content key: weight hash, or op type and attributes."""
        if self._hints[i] is None:
            self._hints[i] = _hint(self.data[i])
        return self._hints[i]

    def refine(self, table: dict[Hashable, int]) -> None:
        """One WL round: a node's new hash stands for its own and its neighbours' hashes, by slot."""
        prev = self.hashes[-1]
        new = []
        add = table.setdefault
        # A node whose neighbours all sit at distinct (slot, out slot) pairs has them in a fixed order, so its key
        # is a flat tuple: (own, its shape's number, the neighbours' hashes in that order); any other has the
        # sorted (slot, out slot, hash) triples after a -1. Keys are equal exactly when the sorted triples are.
        # Flat tuples hash and compare several times faster than nested ones, and they were most of a round.
        for own, shape, neighbours, preds, succs in zip(prev, self._shapes, self._neighbours, self.preds,
                                                        self.succs, strict=True):
            if shape >= 0:
                count = len(neighbours)
                if count == 2:
                    key = (own, shape, prev[neighbours[0]], prev[neighbours[1]])
                elif count == 1:
                    key = (own, shape, prev[neighbours[0]])
                elif count == 3:
                    key = (own, shape, prev[neighbours[0]], prev[neighbours[1]], prev[neighbours[2]])
                else:
                    key = (own, shape, *[prev[n] for n in neighbours])
            else:
                key = (own, -1, tuple(sorted([(s, o, prev[n]) for s, o, n in preds])),
                       tuple(sorted([(s, o, prev[n]) for s, o, n in succs])))
            new.append(add(key, len(table)))
        self.hashes.append(new)


def _neighbourhoods(preds: list[list[tuple[int, int, int]]],
                    succs: list[list[tuple[int, int, int]]]) -> tuple[list[int], list[tuple[int, ...]]]:
    """Per node, the number of its neighbourhood's shape (its predecessors' and successors' (slot, out slot)
    pairs, in order) and its neighbours in that order; -1 and () where two neighbours on one side share a pair
    (their order then depends on their hashes)."""
    shapes: dict[tuple, int] = {}
    numbers, neighbours = [], []
    number = shapes.setdefault
    for before, after in zip(preds, succs, strict=True):
        if len(after) == 1 and len(before) < 3:  # most nodes: the general case's shape, made directly
            (t, u, c), = after
            if not before:
                shape, around = (None, (t, u)), (c,)
            elif len(before) == 1:
                (s, o, p), = before
                shape, around = ((s, o), None, (t, u)), (p, c)
            else:
                (s, o, p), (s2, o2, p2) = before if before[0] < before[1] else before[::-1]
                if (s, o) == (s2, o2):
                    numbers.append(-1)
                    neighbours.append(())
                    continue
                shape, around = ((s, o), (s2, o2), None, (t, u)), (p, p2, c)
            numbers.append(number(shape, len(shapes)))
            neighbours.append(around)
            continue
        if len(before) > 1:
            before = sorted(before)
        if len(after) > 1:
            after = sorted(after)
        pairs_before = [(s, o) for s, o, _ in before]
        pairs_after = [(s, o) for s, o, _ in after]
        if len(set(pairs_before)) == len(before) and len(set(pairs_after)) == len(after):
            numbers.append(number((*pairs_before, None, *pairs_after), len(shapes)))
            neighbours.append((*[n for _, _, n in before], *[n for _, _, n in after]))
        else:
            numbers.append(-1)
            neighbours.append(())
    return numbers, neighbours


class _Matcher:
    def __init__(self, a: _Side, b: _Side, rounds: int, strict: bool = False):
        self.a, self.b, self.rounds, self.strict = a, b, rounds, strict
        self.a_to_b = [-1] * len(a.ids)
        self.b_to_a = [-1] * len(b.ids)

    def run(self) -> None:
        self._anchor_weights()
        for depth in range(self.rounds, -1, -1):
            self._anchor(depth)
        self._pair_by_position()
        self._pair_by_name()

    def _link(self, i: int, j: int, queue: list[tuple[int, int]]) -> None:
        if self.a_to_b[i] < 0 and self.b_to_a[j] < 0 and _like(self.a, i, self.b, j, self.strict):
            self.a_to_b[i], self.b_to_a[j] = j, i
            queue.append((i, j))

    def _anchor_weights(self) -> None:
        """Weights with the same values, unique on both sides, are the strongest evidence there is."""
        a, b = self.a, self.b
        groups_a = _group(_weights(a), a.hint)
        groups_b = _group(_weights(b), b.hint)
        queue: list[tuple[int, int]] = []
        for key, members in groups_a.items():
            others = groups_b.get(key)
            if len(members) == 1 and others is not None and len(others) == 1:
                self._link(members[0], others[0], queue)
        if self.strict:  # then the same values in another layout (a Gemm weight as a MatMul's, NCHW as NHWC)
            free_a = _group([i for i in _free_weights(self.a, self.a_to_b)], lambda i: _values_key(a, i))
            free_b = _group([j for j in _free_weights(self.b, self.b_to_a)], lambda j: _values_key(b, j))
            for key, members in free_a.items():
                others = free_b.get(key)
                if key is not None and len(members) == 1 and others is not None and len(others) == 1:
                    self._link(members[0], others[0], queue)
        self._propagate(queue)

    def _anchor(self, depth: int) -> None:
        groups_a = _group([i for i, j in enumerate(self.a_to_b) if j < 0], self.a.hashes[depth].__getitem__)
        groups_b = _group([j for j, i in enumerate(self.b_to_a) if i < 0], self.b.hashes[depth].__getitem__)
        queue: list[tuple[int, int]] = []
        for key, members_a in groups_a.items():
            members_b = groups_b.get(key)
            if members_b:
                for i, j in self._pair(members_a, members_b, allow_order=depth >= _ORDER_DEPTH):
                    self._link(i, j, queue)
        self._propagate(queue)

    def _pair(self, xs: Sequence[int], ys: Sequence[int], allow_order: bool) -> list[tuple[int, int]]:
        """Pair two candidate lists: unique on both sides by content, name, then deep hash."""
        if len(xs) == 1 and len(ys) == 1:
            return [(xs[0], ys[0])]
        a, b = self.a, self.b
        pairs: list[tuple[int, int]] = []
        keys: list[tuple[Callable[[int], Hashable], Callable[[int], Hashable]]] = [
            (a.hint, b.hint),
            (a.names.__getitem__, b.names.__getitem__),
        ]
        keys += [(a.hashes[d].__getitem__, b.hashes[d].__getitem__) for d in range(self.rounds, 0, -1)]
        for key_a, key_b in keys:
            if not xs or not ys:
                break
            ga, gb = _group(xs, key_a), _group(ys, key_b)
            taken = set()
            for key, members in ga.items():
                other = gb.get(key)
                if len(members) == 1 and other is not None and len(other) == 1:
                    pairs.append((members[0], other[0]))
                    taken.add(members[0])
            if taken:
                taken_b = {j for i, j in pairs}
                xs = [x for x in xs if x not in taken]
                ys = [y for y in ys if y not in taken_b]
        if allow_order and xs and len(xs) == len(ys):
            pairs.extend(zip(xs, ys, strict=True))
        return pairs

    def _propagate(self, queue: list[tuple[int, int]]) -> None:
        a, b = self.a, self.b
        a_to_b, b_to_a, link = self.a_to_b, self.b_to_a, self._link
        while queue:
            i, j = queue.pop()
            before_a, before_b = a.preds[i], b.preds[j]
            if len(before_a) == 1 and len(before_b) == 1:  # the general case below, without its dict
                (s, o, p), (t, u, q) = before_a[0], before_b[0]
                if s == t and o == u and a.labels[p] == b.labels[q]:
                    link(p, q, queue)
            elif before_a and before_b:
                preds_b = {(s, o): p for s, o, p in before_b}
                for s, o, p in before_a:
                    q = preds_b.get((s, o))
                    if q is not None and a.labels[p] == b.labels[q]:
                        link(p, q, queue)
            after_a, after_b = a.succs[i], b.succs[j]
            if len(after_a) == 1 and len(after_b) == 1:  # likewise: one consumer a side
                (s, o, c), (t, u, d) = after_a[0], after_b[0]
                if a_to_b[c] < 0 and b_to_a[d] < 0 and s == t and o == u and a.labels[c] == b.labels[d]:
                    link(c, d, queue)
                continue
            free_a = _group([(s, o, c) for s, o, c in after_a if a_to_b[c] < 0],
                            lambda t: (t[0], t[1], a.labels[t[2]]))
            if not free_a:
                continue
            free_b = _group([(s, o, c) for s, o, c in after_b if b_to_a[c] < 0],
                            lambda t: (t[0], t[1], b.labels[t[2]]))
            for key, members in free_a.items():
                others = free_b.get(key)
                if others:
                    xs = _unique([t[2] for t in members])
                    ys = _unique([t[2] for t in others])
                    for x, y in self._pair(xs, ys, allow_order=False):
                        link(x, y, queue)

    def _pair_by_position(self) -> None:
        """Pair unmatched ops that sit between the same matched neighbours (e.g. a changed op type)."""
        a, b = self.a, self.b
        for i in range(len(a.ids)):
            if self.a_to_b[i] >= 0 or a.kinds[i] != "op":
                continue
            votes: dict[int, int] = defaultdict(int)
            for s, o, p in a.preds[i]:
                if self.a_to_b[p] >= 0:
                    for s2, o2, c in b.succs[self.a_to_b[p]]:
                        if (s2, o2) == (s, o) and self.b_to_a[c] < 0 and b.kinds[c] == "op":
                            votes[c] += 1
            for s, o, c in a.succs[i]:
                if self.a_to_b[c] >= 0:
                    for s2, o2, p in b.preds[self.a_to_b[c]]:
                        if (s2, o2) == (s, o) and self.b_to_a[p] < 0 and b.kinds[p] == "op":
                            votes[p] += 1
            if not votes:
                continue
            best = max(votes.values())
            winners = [c for c, v in votes.items() if v == best]
            if len(winners) == 1:
                queue: list[tuple[int, int]] = []
                self._link(i, winners[0], queue)
                self._propagate(queue)

    def _pair_by_name(self) -> None:
        b_names = _group([j for j, i in enumerate(self.b_to_a) if i < 0],
                         lambda j: (self.b.labels[j], self.b.names[j]))
        queue: list[tuple[int, int]] = []
        for i, j in enumerate(self.a_to_b):
            if j < 0:
                others = b_names.get((self.a.labels[i], self.a.names[i]))
                if others and len(others) == 1:
                    self._link(i, others[0], queue)
        self._propagate(queue)


def _like(a: _Side, i: int, b: _Side, j: int, strict: bool) -> bool:
    """Only tensors of one dtype and role are the same weight (a float32 [256] bias is never an int64 [3] shape
    constant, nor a Resize's float scales a weight), and of one element count: always across frameworks, else
    unless of one rank (a resized layer). A transposed copy has the same count: it is paired, then reported as
    transposed."""
    if a.kinds[i] != "initializer":
        return True
    da, db = a.data[i], b.data[j]
    if da["dtype"] != db["dtype"] or da["role"] != db["role"]:
        return False
    same_rank = len(da["shape"] or ()) == len(db["shape"] or ())
    return da["size"] == db["size"] or (same_rank and not strict)


def _weights(side: _Side) -> list[int]:
    """The side's initializers in the role of weights."""
    return [i for i, kind in enumerate(side.kinds) if kind == "initializer" and side.data[i]["role"] == "weight"]


def _free_weights(side: _Side, pairs: list[int]) -> list[int]:
    """The side's weights not matched yet."""
    return [i for i in _weights(side) if pairs[i] < 0]


def _values_key(side: _Side, i: int) -> Hashable | None:
    """The weight's values whatever their layout: dtype, count and a hash of the sorted values (None: scalars)."""
    data = side.data[i]
    if not data["size"] or data["size"] < 2:
        return None
    values = np.sort(tensor_array(data["tensor"], data.get("weights_dir")).ravel())
    return data["dtype"], data["size"], hashlib.blake2b(values.tobytes(), digest_size=12).hexdigest()


def _subgraph_output_slot(key: object) -> int:
    """A subgraph output edge (key 'out<i>', see converter.graphs.graph) as a negative slot: -1 - i."""
    return -1 - int(str(key).removeprefix("out"))


def _group(items: Sequence[Any], key: Callable[[Any], Hashable]) -> dict[Hashable, list[Any]]:
    groups: dict[Hashable, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def _unique(items: list[int]) -> list[int]:
    return list(dict.fromkeys(items))
