"""Two graph views -> a Diff: what was added, removed and changed, matched by structure; pure, no I/O.

The Diff and its JSON schema (``graphtool.diff/1``) are in converter.graphs.changes.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import onnx

from converter.graphs.changes import CHANGE_KINDS, COMMON_STRUCTURE, Change, Diff, FieldChange, NodeRef, Rename
from converter.graphs.graph import format_shape, tensor_array
from converter.graphs.match import match_indexed
from converter.graphs.precision import compare_precision, fused_ids
from converter.graphs.quantized import Folded, fold
from converter.graphs.roles import input_name, irrelevant_attributes, is_attribute_input, same_setting

if TYPE_CHECKING:
    from converter.graphs.match import _Matcher, _Side

__all__ = ["Diff", "Change", "FieldChange", "NodeRef", "Rename", "diff_graphs", "CHANGE_KINDS"]

_IGNORED_METADATA_PREFIX = "graphtool."
# Conv/pool attributes that ONNX leaves without a default but that mean these values when absent, and optional
# attribute-like inputs likewise (Slice's steps, Pad's constant_value).
_IMPLIED = {"dilations": 1, "strides": 1, "pads": 0, "steps": 1, "constant_value": 0}
# A constant input's values are listed in a field up to this many elements, else summarised by a hash.
_LISTED = 64


def diff_graphs(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, *, atol: float = 0.0) -> Diff:
    """Compare two graph views (from converter.graphs.graph.to_graph) and report every difference.

    Weight elements that differ by at most ``atol`` count as equal.
    """
    real_a, real_b = ga, gb
    folded_a, folded_b = fold(ga), fold(gb)
    ga, gb = folded_a.graph, folded_b.graph  # scaffolding folded into the layers: matched layer to layer
    matching = match_indexed(ga, gb)
    side_a, side_b, a_to_b = matching.a, matching.b, matching.a_to_b
    ids_a, ids_b, data_a, data_b = side_a.ids, side_b.ids, side_a.data, side_b.data
    matches = {ids_a[i]: ids_b[j] for i, j in enumerate(a_to_b) if j >= 0}
    compare = _Comparer(ga, gb, matches, atol, matching)
    changes = [*_model_changes(ga, gb)]
    renames: list[Rename] = []
    nodes_a, nodes_b = compare.nodes_a, compare.nodes_b
    op_change, other_changes = compare.op_change, compare.node
    for i, j in enumerate(a_to_b):
        if j < 0:
            continue
        node_a, node_b, da, db = ids_a[i], ids_b[j], data_a[i], data_b[j]
        if da["kind"] == "op":  # most nodes: one call, no generator
            change = op_change(i, j, node_a, node_b, da, db)
            if change is not None:
                changes.append(change)
        else:
            changes.extend(other_changes(i, j, node_a, node_b, da, db))
        if da["name"] != db["name"] or da["scope"] != db["scope"]:
            renames.append(Rename(da["kind"], *compare.refs(i, j, node_a, node_b, da, db)))
    matched_b = compare.matched_b
    changes.extend(_unmatched(ga, [n for n in ga if n not in matches], "removed"))
    changes.extend(_unmatched(gb, [n for n in gb if n not in matched_b], "added"))
    ops_a = sum(1 for data in nodes_a.values() if data["kind"] == "op")
    ops_b = sum(1 for data in nodes_b.values() if data["kind"] == "op")
    ops_matched = sum(1 for n in matches if nodes_a[n]["kind"] == "op")
    similarity = ops_matched / max(ops_a, ops_b) if max(ops_a, ops_b) else 1.0
    notes = []
    if similarity < COMMON_STRUCTURE:
        notes.append(
            f"the models share no common structure: only {ops_matched} of {max(ops_a, ops_b)} ops "
            "could be matched, so most of the graph is reported as removed and added"
        )
    precision = None
    if folded_a.scheme != "float32" or folded_b.scheme != "float32":
        precision = compare_precision(real_a, real_b, folded_a, folded_b, matches)
        changes = _without_precision_changes(changes, ga, gb, matches, folded_a, folded_b)
    order = {kind: i for i, kind in enumerate(CHANGE_KINDS)}
    changes.sort(key=lambda c: (order[c.kind] > order["output_changed"], c.scope,
                                _position(c, ga, gb), order[c.kind]))
    return Diff(
        changes=tuple(changes),
        renames=tuple(renames),
        matches=tuple(matches.items()),
        nodes_a=_ops(real_a) if precision else ops_a,  # ops, as inspect and render count them (graph.COUNTED)
        nodes_b=_ops(real_b) if precision else ops_b,
        similarity=similarity,
        notes=tuple(notes),
        precision=precision,
    )


def _ops(g: nx.MultiDiGraph) -> int:
    return sum(1 for _, kind in g.nodes(data="kind") if kind == "op")


def _without_precision_changes(changes: list[Change], ga: nx.MultiDiGraph, gb: nx.MultiDiGraph,
                               matches: dict[str, str], folded_a: Folded, folded_b: Folded) -> list[Change]:
    """The changes the precision section explains left out: weights stored in another dtype (their error is
    reported there) and activations a quantizer fused into its quantized ranges."""
    fused = {*fused_ids(ga, matches, folded_b), *fused_ids(gb, {b: a for a, b in matches.items()}, folded_a)}
    kept = []
    for change in changes:
        if change.kind in ("removed", "added") and (change.a or change.b).id in fused:
            continue
        if change.kind in ("weight_changed", "constant_folded") and change.a and change.b and (
                "stored" in ga.nodes[change.a.id] or "stored" in gb.nodes[change.b.id]) and not any(
                item.field == "shape" for item in change.fields):
            continue
        kept.append(change)
    return kept


def _position(change: Change, ga: nx.MultiDiGraph, gb: nx.MultiDiGraph) -> int:
    if change.b is not None:
        return gb.nodes[change.b.id]["index"]
    if change.a is not None:
        return ga.nodes[change.a.id]["index"]
    return -1


def _ref(g: nx.MultiDiGraph, node: str, nodes: Mapping[str, dict] | None = None,
         data: dict | None = None) -> NodeRef:
    """`nodes`: the graph's node data as a plain dict, where a caller looks up many (faster than g.nodes);
    `data`: the node's, where the caller has it."""
    nodes = g.nodes if nodes is None else nodes
    data = nodes[node] if data is None else data
    scope = data["scope"]
    if data["kind"] == "initializer" and not scope:  # a weight belongs where it is used
        users = g._succ[node]  # networkx's successor dict: its view costs more than this whole lookup
        if len(users) == 1:
            scope = nodes[next(iter(users))]["scope"]
        elif users:
            scope = nodes[min(users, key=lambda v: nodes[v]["index"])]["scope"]
    return NodeRef(node, data["name"], data.get("op_type"), scope)


def _user_scope(side: _Side, i: int) -> str:
    """An unscoped weight's scope, as _ref finds it: its first user's in model order, from the matcher's
    adjacency (per node, (slot, out slot, consumer) triples)."""
    users, data = side.succs[i], side.data
    if not users:
        return ""
    if len(users) == 1:
        return data[users[0][2]]["scope"]
    return data[min(users, key=lambda user: data[user[2]]["index"])[2]]["scope"]


def _slots(side: _Side, i: int) -> dict[int, str]:
    """Producer of each input slot of the node at position i, from the matcher's adjacency (a subgraph output's
    edge has a negative slot there: it feeds no input)."""
    ids = side.ids
    return {slot: ids[producer] for slot, _, producer in side.preds[i] if slot >= 0}


def _model_changes(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph) -> Iterable[Change]:
    opset_fields = _dict_fields("opset", _named_domains(ga.graph["opset"]), _named_domains(gb.graph["opset"]))
    if opset_fields:
        yield Change("opset_changed", "model", fields=tuple(opset_fields))
    fields = []
    for key in ("ir_version", "producer_name", "producer_version", "doc_string"):
        if ga.graph[key] != gb.graph[key]:
            fields.append(FieldChange(key, ga.graph[key], gb.graph[key]))
    meta_a = {k: v for k, v in ga.graph["metadata"].items() if not k.startswith(_IGNORED_METADATA_PREFIX)}
    meta_b = {k: v for k, v in gb.graph["metadata"].items() if not k.startswith(_IGNORED_METADATA_PREFIX)}
    fields.extend(_dict_fields("metadata", meta_a, meta_b))
    if fields:
        yield Change("metadata_changed", "model", fields=tuple(fields))


def _named_domains(opset: dict[str, int]) -> dict[str, int]:
    return {domain or "ai.onnx": version for domain, version in opset.items()}


def _dict_fields(prefix: str, old: dict, new: dict) -> list[FieldChange]:
    return [
        FieldChange(f"{prefix}:{key}", old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _unmatched(g: nx.MultiDiGraph, nodes: list[str], kind: str) -> Iterable[Change]:
    unmatched = set(nodes)
    folded: dict[str, list[str]] = {}
    for node in nodes:
        data = g.nodes[node]
        if data["kind"] != "initializer":
            continue
        users = sorted({v for _, v in g.out_edges(node)}, key=lambda v: g.nodes[v]["index"])
        if users and all(user in unmatched for user in users):
            folded.setdefault(users[0], []).append(data["name"])
    for node in nodes:
        data = g.nodes[node]
        element = data["kind"]
        if element == "initializer" and (data["role"] != "weight"  # told by the ops that read it
                                         or any(data["name"] in names for names in folded.values())):
            continue
        side = {"a": _ref(g, node)} if kind == "removed" else {"b": _ref(g, node)}
        if element in ("input", "output"):
            yield Change(f"{element}_{kind}", element, **side,
                         fields=(FieldChange("signature", None, _signature(data)),))
        else:
            yield Change(kind, element, **side, weights=tuple(folded.get(node, ())))


def _signature(data: dict) -> str:
    shape = data.get("shape")
    return f"{data.get('dtype') or '?'}{'[?]' if shape is None else format_shape(shape)}"


class _Comparer:
    """Compares matched nodes; knows both graphs and the matching."""

    def __init__(self, ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, matches: dict[str, str], atol: float,
                 matching: _Matcher):
        self.ga, self.gb, self.matches, self.atol = ga, gb, matches, atol
        self.opset_a = ga.graph["opset"]
        self.opset_b = gb.graph["opset"]
        # networkx's node dicts (G._node: id -> data), not its views: a view lookup per access was a tenth of a
        # 100k-node diff
        self.nodes_a, self.nodes_b = ga._node, gb._node
        # the matcher's integer adjacency: input slots read from it, not from a second walk over the graph
        self.sides, self.a_to_b = (matching.a, matching.b), matching.a_to_b

    def refs(self, i: int, j: int, node_a: str, node_b: str, da: dict, db: dict) -> tuple[NodeRef, NodeRef]:
        """Both nodes' refs (at positions i and j of the matching), as _ref makes them."""
        side_a, side_b = self.sides
        scope_a = da["scope"] or (_user_scope(side_a, i) if da["kind"] == "initializer" else "")
        scope_b = db["scope"] or (_user_scope(side_b, j) if db["kind"] == "initializer" else "")
        return (NodeRef(node_a, da["name"], da.get("op_type"), scope_a),
                NodeRef(node_b, db["name"], db.get("op_type"), scope_b))

    def op_change(self, i: int, j: int, node_a: str, node_b: str, da: dict, db: dict) -> Change | None:
        """The change between two matched ops (at positions i and j of the matching), given their data."""
        if (da["op_type"] == db["op_type"] and da["domain"] == db["domain"] and da["attributes"] == db["attributes"]
                and node_a not in self._consts_a and node_b not in self._consts_b):
            # most pairs: the same op fed by matched producers at the same slots, so no field differs (the
            # general walk below, which builds each side's slots, would find none either)
            preds_a, preds_b = self.sides[0].preds[i], self.sides[1].preds[j]
            a_to_b = self.a_to_b
            if len(preds_a) == len(preds_b) and all(s == t and s >= 0 and a_to_b[p] == q for (s, _, p), (t, _, q)
                                                    in zip(preds_a, preds_b, strict=True)):
                return None
        fields = self._op_fields(i, j, node_a, node_b, da, db)
        return Change("changed", "op", *self.refs(i, j, node_a, node_b, da, db), tuple(fields)) if fields else None

    def node(self, i: int, j: int, node_a: str, node_b: str, da: dict, db: dict) -> Iterable[Change]:
        """The changes between two matched nodes other than ops (at positions i and j), given their data."""
        kind = da["kind"]
        if kind == "initializer":
            # constants that configure an op (axes, shapes) or feed it integers are compared as part of that op
            change = _weight_change(da, db, self.atol) if da["role"] == db["role"] == "weight" else None
            if change is not None:
                fields, max_abs, fraction = change
                yield Change(self._weight_kind(node_a, node_b, fields), "initializer",
                             *self.refs(i, j, node_a, node_b, da, db), fields, max_abs, fraction)
        else:
            fields = [FieldChange(key, da[key], db[key]) for key in ("dtype", "shape") if da[key] != db[key]]
            if fields:
                yield Change(f"{kind}_changed", kind, *self.refs(i, j, node_a, node_b, da, db), tuple(fields))

    def _weight_kind(self, node_a: str, node_b: str, fields: tuple[FieldChange, ...]) -> str:
        """A transposed copy, a constant the conversion folded (its users were rewritten), or a changed weight."""
        if any(item.field == "layout" for item in fields):
            return "weight_transposed"
        if self._cross_framework and (self._rewritten(self.ga, node_a, self.matches)
                                      or self._rewritten(self.gb, node_b, self._matches_b)):
            return "constant_folded"
        return "weight_changed"

    @functools.cached_property
    def _cross_framework(self) -> bool:
        # A converter restructures what it converts; an edit of one model does not.
        return self.ga.graph["producer_name"] != self.gb.graph["producer_name"]

    @functools.cached_property
    def _matches_b(self) -> dict[str, str]:
        return {b: a for a, b in self.matches.items()}

    def _rewritten(self, g: nx.MultiDiGraph, node: str, matches: dict[str, str]) -> bool:
        """Whether an op within two edges of this constant's users has no counterpart or another op type."""
        other = self.gb if g is self.ga else self.ga
        frontier = set(g.successors(node))
        seen = set(frontier)
        for _ in range(2):
            frontier = {n for f in frontier for n in (*g.successors(f), *g.predecessors(f))} - seen
            seen |= frontier
        for op in seen:
            if g.nodes[op]["kind"] != "op":
                continue
            partner = matches.get(op)
            if partner is None or other.nodes[partner]["op_type"] != g.nodes[op]["op_type"]:
                return True
        return False

    def _op_fields(self, i: int, j: int, node_a: str, node_b: str, da: dict, db: dict) -> list[FieldChange]:
        fields = [] if da["op_type"] == db["op_type"] and da["domain"] == db["domain"] else [
            FieldChange(key, da[key], db[key]) for key in ("op_type", "domain") if da[key] != db[key]]
        attrs_a, attrs_b = da["attributes"], db["attributes"]
        side_a, side_b = self.sides
        inputs_a, inputs_b = _slots(side_a, i), _slots(side_b, j)
        consts_a, consts_b = self._consts_a.get(node_a, {}), self._consts_b.get(node_b, {})
        settings_a = settings_b = {}
        if (consts_a or consts_b) and (attrs_a != attrs_b or self._differ(consts_a, consts_b)):
            settings_a, pieces_a = _settings(da, consts_a, self.nodes_a, self.opset_a)
            settings_b, pieces_b = _settings(db, consts_b, self.nodes_b, self.opset_b)
            attrs_a, attrs_b = {**settings_a, **attrs_a}, {**settings_b, **attrs_b}
            fields.extend(FieldChange(f"const[{slot}]", pieces_a[slot], pieces_b[slot])
                          for slot in sorted(set(pieces_a) & set(pieces_b)) if pieces_a[slot] != pieces_b[slot])
        if attrs_a != attrs_b:  # equal: nothing to default
            fields.extend(self._attribute_fields(node_a, node_b, da, db, attrs_a, attrs_b, (inputs_a, inputs_b),
                                                 irrelevant_attributes(da["op_type"], attrs_a, attrs_b)))
        # an input the other opset has as an attribute (compared above) is no other input count
        if len(inputs_a) != len(inputs_b) and len(inputs_a) - len(settings_a) != len(inputs_b) - len(settings_b):
            fields.append(FieldChange("inputs", len(inputs_a), len(inputs_b)))
        for slot in sorted(inputs_a.keys() & inputs_b.keys()):
            if slot in consts_a and slot in consts_b:
                continue  # compared by value above, whichever constants the matcher paired
            pred_a, pred_b = inputs_a[slot], inputs_b[slot]
            partner = self.matches.get(pred_a)
            if partner is not None and partner != pred_b and pred_b in self.matched_b:
                fields.append(FieldChange(f"input[{slot}]", self.nodes_a[pred_a]["name"],
                                          self.nodes_b[pred_b]["name"]))
        return fields

    def _attribute_fields(self, node_a: str, node_b: str, da: dict, db: dict, attrs_a: dict, attrs_b: dict,
                          inputs: tuple[dict[int, str], dict[int, str]], irrelevant: set[str]) -> Iterable[FieldChange]:
        ranks: tuple[int | None, int | None] | None = None
        for name in sorted(set(attrs_a) | set(attrs_b)):
            old = attrs_a.get(name, self._default(da, name, self.opset_a))
            new = attrs_b.get(name, self._default(db, name, self.opset_b))
            if old == new or name in irrelevant or _implied_equal(name, old, new):
                continue
            if ranks is None:
                ranks = (_data_rank(self.ga, node_a, inputs[0]), _data_rank(self.gb, node_b, inputs[1]))
            if not same_setting(da["op_type"], name, old, new, ranks):
                yield FieldChange(f"attr:{name}", old, new)

    def _differ(self, consts_a: dict[int, str], consts_b: dict[int, str]) -> bool:
        """Whether the constant inputs of two matched ops sit at other slots or hold other values."""
        return consts_a.keys() != consts_b.keys() or any(
            self.nodes_a[pred]["hash"] != self.nodes_b[consts_b[slot]]["hash"] for slot, pred in consts_a.items())

    @functools.cached_property
    def _consts_a(self) -> dict[str, dict[int, str]]:
        return _constants(self.ga, self.nodes_a)

    @functools.cached_property
    def _consts_b(self) -> dict[str, dict[int, str]]:
        return _constants(self.gb, self.nodes_b)

    @functools.cached_property
    def matched_b(self) -> set[str]:
        """The nodes of B that have a partner."""
        return set(self.matches.values())

    @staticmethod
    def _default(data: dict, name: str, opset: dict) -> Any:
        return _schema_default(data["op_type"], data["domain"], opset.get(data["domain"], 0), name)


def _constants(g: nx.MultiDiGraph, nodes: Mapping[str, dict]) -> dict[str, dict[int, str]]:
    """Per op, its input slots read from constants that are not weights: {op: {slot: initializer id}}; one walk
    over those constants' uses, not one per op."""
    found: dict[str, dict[int, str]] = {}
    for node, data in nodes.items():
        if data["kind"] == "initializer" and data["role"] != "weight":
            for _, user, slot in g.out_edges(node, data="slot"):
                if slot is not None:
                    found.setdefault(user, {})[slot] = node
    return found


def _settings(data: dict, consts: dict[int, str], nodes: Mapping[str, dict],
              opset: dict) -> tuple[dict[str, Any], dict[int, Any]]:
    """An op's constant inputs as values: attribute-like ones by their schema name (compared as attributes, as
    older opsets had them), the others by slot."""
    op_type, domain = data["op_type"], data["domain"]
    version = opset.get(domain, 0)
    settings, pieces = {}, {}
    for slot, pred in consts.items():
        value = _constant_value(nodes[pred])
        name = input_name(op_type, domain, version, slot)
        if name is not None and is_attribute_input(op_type, domain, version, slot):
            settings[name] = value
        else:
            pieces[slot] = value
    return settings, pieces


def _constant_value(data: dict) -> Any:
    """A constant's values as a list (at least one dimension), or a summary with a hash when it is large."""
    if data["size"] is None or data["size"] > _LISTED:
        return {"tensor": data["dtype"], "shape": data["shape"], "hash": data["hash"]}
    return np.atleast_1d(tensor_array(data["tensor"], data.get("weights_dir"))).tolist()


def _data_rank(g: nx.MultiDiGraph, node: str, inputs: dict[int, str]) -> int | None:
    """The rank of an op's first input (`inputs`: its producer per input slot), where shape inference knew it."""
    producer = inputs.get(0)
    shape = g.edges[producer, node, 0]["shape"] if producer is not None else None
    return None if shape is None else len(shape)


@functools.lru_cache(maxsize=4096)
def _schema_default(op_type: str, domain: str, version: int, name: str) -> Any:
    try:
        schema = onnx.defs.get_schema(op_type, version or onnx.defs.onnx_opset_version(), domain)
    except onnx.defs.SchemaError:
        return None
    attr = schema.attributes.get(name)
    if attr is None or not attr.default_value.name:
        return None
    value = onnx.helper.get_attribute_value(attr.default_value)
    return value.decode() if isinstance(value, bytes) else value


def _implied_equal(name: str, old: Any, new: Any) -> bool:
    """Attributes with no schema default whose absence still means a known value (all ones or zeros)."""
    implied = _IMPLIED.get(name)
    if implied is None or (old is None) == (new is None):
        return False
    given = old if new is None else new
    return isinstance(given, list) and all(value == implied for value in given)


def _transposition(a: np.ndarray, b: np.ndarray) -> tuple[int, ...] | None:
    """The axis order that turns A into B when B holds A's values in another layout (a Gemm weight as a
    MatMul's, NCHW as NHWC), else None; ranks up to 5."""
    if a.size != b.size or a.ndim != b.ndim or a.ndim > 5 or a.ndim < 2:
        return None
    for order in itertools.permutations(range(a.ndim)):
        if order == tuple(range(a.ndim)) or tuple(a.shape[k] for k in order) != b.shape:
            continue
        if np.array_equal(np.transpose(a, order), b):
            return order
    return None


def _weight_change(da: dict, db: dict, atol: float = 0.0) -> tuple[tuple[FieldChange, ...], float | None,
                                                                     float | None] | None:
    if da["hash"] == db["hash"]:
        return None
    fields = [FieldChange(key, da[key], db[key]) for key in ("dtype", "shape") if da[key] != db[key]]
    if fields and (da["dtype"] != db["dtype"] or da["size"] != db["size"]):
        return tuple(fields), None, None  # no values read: they cannot be the same
    values_a = tensor_array(da["tensor"], da.get("weights_dir"))
    values_b = tensor_array(db["tensor"], db.get("weights_dir"))
    permutation = _transposition(values_a, values_b)
    if permutation is not None:
        return (FieldChange("layout", da["shape"], f"{db['shape']} (transpose {list(permutation)})"),), 0.0, 0.0
    if fields and values_a.size > 1 and np.array_equal(np.sort(values_a, axis=None), np.sort(values_b, axis=None)):
        # another shape, the same values: a layout a transpose alone does not give (an LSTM's gates reordered
        # and transposed for a MatMul)
        return (FieldChange("layout", da["shape"], f"{db['shape']} (the same values, rearranged)"),), 0.0, 0.0
    if fields:
        return tuple(fields), None, None
    if values_a.dtype.kind in "fiub" and values_a.size:
        delta = np.abs(values_a.astype(np.float64) - values_b.astype(np.float64))
        both_nan = np.isnan(delta) & np.isnan(values_a) & np.isnan(values_b)
        differs = ~(both_nan | (delta <= atol))
        max_abs = float(np.nanmax(delta)) if not np.isnan(delta).all() else float("nan")
        fraction = float(differs.mean())
    else:
        max_abs, fraction = None, float(np.mean(values_a != values_b)) if values_a.size else 0.0
    if fraction == 0.0:
        return None
    summary = FieldChange("values", None, f"max |Δ| {max_abs:.3g}, {fraction:.1%} changed"
                          if max_abs is not None else f"{fraction:.1%} changed")
    return (summary,), max_abs, fraction
