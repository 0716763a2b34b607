"""What a diff reports: the Diff between two models and its changes, renames and JSON document.

JSON schema of ``Diff.to_dict()`` (``schema: "graphtool.diff/1"``)::

    identical         bool: no changes, none in precision either (renames alone do not count)
    common_structure  bool: false when almost nothing matched (the models share no structure)
    summary           {added, removed, changed, weights_changed, weights_transposed (the same values in
                       another layout: transposed, or rearranged into another shape), constants_folded
                       (constants the conversion computed from others, e.g. a batch norm folded into a
                       convolution), io_changed, opset_changed, metadata_changed, renamed, matched,
                       ops_matched, nodes_a, nodes_b}: ints (nodes_a/b and ops_matched count ops, as
                       inspect and render do; matched counts every pairing, weights and inputs included);
                       similarity: float
    notes             [str]
    changes           [{kind, element, scope, a, b, fields, max_abs_diff, fraction_changed, weights}]
    renames           [{element, a, b}]   (only with renames=True)
    precision         null, or when either model is quantized or in half precision (converter.graphs.precision):
                      {precision_a, precision_b ('float32', 'int8 (QDQ, static)', 'float16 (I/O float32)'),
                       summary {compute_layers, changed {"float32->int8": n}, kept, fused, ops_changed,
                       weights_changed, size_ratio}, line, layers [{a, b, op_type, precision_a, precision_b,
                       folded}], kept [name], kept_in, fused [name], weights [{a, b, dtype_a, dtype_b, bytes_a,
                       bytes_b, max_abs_error, range_error}], bytes {a, b}}

Quantized and half-precision models are compared with their scaffolding folded into the layers
(converter.graphs.quantized): Q/DQ pairs, QLinear*/integer ops with their rescaling, float Casts are no structural
change; a weight stored in another dtype is reported in ``precision.weights`` with its dequantized error rather
than as a weight_changed, and activations a quantizer fused into its ranges in ``precision.fused``.

``kind`` is one of added | removed | changed | weight_changed | input_added | input_removed |
input_changed | output_added | output_removed | output_changed | opset_changed | metadata_changed.
``element`` is op | initializer | input | output | model. ``a`` and ``b`` are the node on each side
(``{id, name, op_type, scope}``, null when absent; a weight's scope is that of its first user).
``fields`` lists ``{field, old, new}``: op_type, domain, ``attr:<name>``, inputs, ``input[<slot>]``
(rewired), ``const[<slot>]`` (the values of a constant the op reads as data that is not a weight, such as an
integer shape piece), shape, dtype, values, layout (a weight's other layout), signature, ``opset:<domain>``,
``metadata:<key>``. Added or removed ops list the weights only they used in ``weights`` instead of reporting
each weight on its own.

Constants are compared by role (converter.graphs.roles): only weights (float tensors an op reads as data) are
reported on their own, as weight_changed / weight_transposed / constant_folded. A constant that configures its op
(ReduceMean's axes, Reshape's shape, Pad's pads, Gather's indices, ...) is that op's ``attr:<input name>``, as
older opsets had it, its values as a list (a summary with a hash past 64 elements), and two settings that mean
the same (axes counted from the end or the start) are no change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from converter.graphs.precision import PrecisionDiff

__all__ = ["Diff", "Change", "FieldChange", "NodeRef", "Rename", "CHANGE_KINDS", "COMMON_STRUCTURE"]

CHANGE_KINDS = (
    "opset_changed", "metadata_changed", "input_added", "input_removed", "input_changed",
    "output_added", "output_removed", "output_changed", "added", "removed", "changed", "weight_changed",
    "weight_transposed", "constant_folded",
)
# Below this share of matched ops, two models are said to share no common structure.
COMMON_STRUCTURE = 0.2


class _Record:
    """A result whose JSON form is exactly its fields."""

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class NodeRef(_Record):
    """One side of a change: a node of one graph."""

    id: str
    name: str
    op_type: str | None
    scope: str


@dataclass(frozen=True)
class FieldChange(_Record):
    """One property that differs: its old and new values."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    """One reported difference between the two models."""

    kind: str
    element: str
    a: NodeRef | None = None
    b: NodeRef | None = None
    fields: tuple[FieldChange, ...] = ()
    max_abs_diff: float | None = None
    fraction_changed: float | None = None
    weights: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        """The scope the change belongs to (the new side's, when there is one)."""
        ref = self.b or self.a
        return ref.scope if ref else ""

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "element": self.element,
            "scope": self.scope,
            "a": self.a.to_dict() if self.a else None,
            "b": self.b.to_dict() if self.b else None,
            "fields": [f.to_dict() for f in self.fields],
            "max_abs_diff": self.max_abs_diff,
            "fraction_changed": self.fraction_changed,
            "weights": list(self.weights),
        }


@dataclass(frozen=True)
class Rename(_Record):
    """A matched node whose name or scope differs."""

    element: str
    a: NodeRef
    b: NodeRef


@dataclass(frozen=True)
class Diff:
    """The differences between model A and model B, and how their nodes were matched."""

    changes: tuple[Change, ...]
    renames: tuple[Rename, ...]
    matches: tuple[tuple[str, str], ...]
    nodes_a: int
    nodes_b: int
    similarity: float
    notes: tuple[str, ...] = field(default=())
    precision: PrecisionDiff | None = None  # when either model is quantized or in half precision

    @property
    def identical(self) -> bool:
        """True when nothing but names differs (a layer or weight in another precision is a difference)."""
        return not self.changes and not (self.precision and (self.precision.layers or self.precision.weights))

    @property
    def common_structure(self) -> bool:
        """False when the two models share (almost) no structure."""
        return self.similarity >= COMMON_STRUCTURE

    def count(self, *kinds: str) -> int:
        """How many changes have one of these kinds."""
        return sum(1 for change in self.changes if change.kind in kinds)

    @property
    def summary(self) -> dict[str, Any]:
        """Counts of each sort of change, for the one-line summary and the JSON document."""
        return {
            "added": self.count("added"),
            "removed": self.count("removed"),
            "changed": self.count("changed"),
            "weights_changed": self.count("weight_changed"),
            "weights_transposed": self.count("weight_transposed"),
            "constants_folded": self.count("constant_folded"),
            "io_changed": self.count(*(k for k in CHANGE_KINDS if k.startswith(("input_", "output_")))),
            "opset_changed": self.count("opset_changed"),
            "metadata_changed": self.count("metadata_changed"),
            "renamed": len(self.renames),
            "matched": len(self.matches),
            "ops_matched": sum(1 for node_a, _ in self.matches if node_a.startswith("op:")),
            "nodes_a": self.nodes_a,
            "nodes_b": self.nodes_b,
            "similarity": round(self.similarity, 4),
        }

    def to_dict(self, renames: bool = False) -> dict:
        document = {
            "schema": "graphtool.diff/1",
            "identical": self.identical,
            "common_structure": self.common_structure,
            "summary": self.summary,
            "notes": list(self.notes),
            "changes": [change.to_dict() for change in self.changes],
            "precision": self.precision.to_dict() if self.precision else None,
        }
        if renames:
            document["renames"] = [rename.to_dict() for rename in self.renames]
        return document
