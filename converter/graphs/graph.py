"""ModelProto -> networkx graph: a read-only view of a model for diffing and rendering.

``to_graph(model)`` returns a ``networkx.MultiDiGraph`` with this schema (everything downstream
reads the model through it):

Graph attributes (``G.graph``):
    ``name``, ``ir_version``, ``producer_name``, ``producer_version``, ``doc_string``;
    ``opset``: {domain: version} ('' for the default ONNX domain);
    ``metadata``: {key: value} of the model's metadata_props;
    ``inputs`` / ``outputs``: node ids of the graph inputs and outputs, in signature order;
    ``notes``: tuple of strings about what could not be worked out (e.g. shape inference failed).

Nodes, keyed by a unique string id (``op:<name>``, ``input:<name>``, ``output:<name>``,
``initializer:<name>``), in model order; every node has
    ``kind``: 'op' | 'input' | 'output' | 'initializer';
    ``name``: the ONNX name (ops without a name get '<op_type>_<index>');
    ``scope``: '/'-joined module path from ``graphtool.scope`` metadata ('' at the top level);
    ``index``: position in model order (0, 1, ...).
Op nodes add ``op_type``, ``domain``, ``attributes`` ({name: JSON-able value; tensors as
``{'tensor': dtype, 'shape': [...], 'hash': ...}``}), ``source`` ('file.py:LINE' or None),
``parent`` (id of the If/Loop/Scan op whose subgraph holds it, else None), ``subgraphs``
({attribute name: number of nodes} for control-flow ops) and ``output_shapes`` (list of shapes).
Input, output and initializer nodes add ``shape`` (list of int | str | None, or None when
unknown), ``dtype`` (numpy-style name, e.g. 'float32') and ``size`` (element count or None).
Initializers add ``hash`` (content hash of the values), ``tensor`` (the TensorProto itself, to
read values lazily; never copied), ``role`` ('attribute' when read only at attribute-like inputs such as
axes and shapes, else 'weight' for a float tensor and 'constant' for another; see converter.graphs.roles)
and, when it is stored externally, ``weights_dir`` (the folder its data file is in).

Edges, one per tensor use (producer -> consumer, so a tensor read twice gives two edges), keyed by
the consumer's input slot: ``tensor`` (name), ``dtype``, ``shape``, ``slot`` (consumer input index),
``out_slot`` (producer output index). Outputs are consumers with slot 0; a subgraph's outputs
reach their parent op with slot None and edge key ``'out<i>'`` (i: position among the outputs).

Subgraphs of If / Loop / Scan are flattened: their ops become nodes of the same graph with scope
``<parent scope>/<parent name>.<attribute>`` and ``parent`` set; a subgraph's formal inputs appear as
edges from the parent op, its outputs as edges back to the parent op, and tensors it reads from the
outer graph as ordinary edges.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import onnx

from converter.core import external_data
from converter.core.onnx_utils import dtype_name, shape_of, subgraphs_of, unique_name, value_infos
from converter.core.scopes import SCOPE_KEY, SOURCE_KEY
from converter.graphs.roles import constant_role, is_attribute_input

__all__ = [
    "to_graph", "op_nodes", "node_counts", "COUNTED", "node_label", "format_shape", "tensor_hash", "tensor_array",
]

_GRAPH_ATTRS = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
_INVENTED = re.compile(r"^unk__\d+$")


def to_graph(model: onnx.ModelProto, *, infer_shapes: bool = True, weights_dir: Path | None = None) -> nx.MultiDiGraph:
    """Build the networkx view of a model (see the module docstring for the schema)."""
    notes: list[str] = []
    if infer_shapes:
        model = _inferred(model, notes)
    graph = model.graph
    g = nx.MultiDiGraph(
        name=graph.name,
        ir_version=model.ir_version,
        producer_name=model.producer_name,
        producer_version=model.producer_version,
        doc_string=model.doc_string,
        opset={entry.domain or "": entry.version for entry in model.opset_import},
        metadata={prop.key: prop.value for prop in model.metadata_props},
        notes=(),
    )
    builder = _Builder(g, _type_infos(graph), weights_dir)
    builder.add_graph(graph)
    builder.set_roles()
    g.graph["inputs"] = builder.input_ids
    g.graph["outputs"] = builder.output_ids
    g.graph["notes"] = tuple(notes)
    return g


def op_nodes(g: nx.MultiDiGraph) -> list[str]:
    """Ids of the op nodes, in model order."""
    return [node for node, kind in g.nodes(data="kind") if kind == "op"]


# What "nodes" means wherever graphtool counts them (inspect, diff, render): ONNX ops, those inside If/Loop/Scan
# bodies included; initializers (weights and constants), graph inputs and outputs are counted apart.
COUNTED = "ops, including those in control-flow bodies; weights and constants, inputs and outputs apart"


def node_counts(g: nx.MultiDiGraph) -> dict[str, int]:
    """The graph's node counts by the one rule (COUNTED): ops, constants, inputs, outputs."""
    kinds = {"op": "ops", "initializer": "constants", "input": "inputs", "output": "outputs"}
    counts = dict.fromkeys(kinds.values(), 0)
    for _, kind in g.nodes(data="kind"):
        counts[kinds[kind]] += 1
    return counts


def node_label(data: dict[str, Any]) -> str:
    """A short human name for a node: 'Conv conv1' or 'initializer W'."""
    if data["kind"] == "op":
        return f"{data['op_type']} {data['name']}"
    return f"{data['kind']} {data['name']}"


def format_shape(shape: list | None) -> str:
    """'[1,3,224,224]', with symbolic dims by name and '?' for unknown ones."""
    if shape is None:
        return "?"
    return "[" + ",".join("?" if dim is None else str(dim) for dim in shape) + "]"


def tensor_array(tensor: onnx.TensorProto, weights_dir: Path | None = None) -> np.ndarray:
    """The values of an initializer as a numpy array; external data memory-mapped from `weights_dir`."""
    if weights_dir is None:
        return external_data.tensor_array(tensor)
    with external_data.weights_at(weights_dir):
        return external_data.tensor_array(tensor)


def tensor_hash(tensor: onnx.TensorProto) -> str:
    """A content hash of a tensor's values, independent of its name and storage layout."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(_dtype_key(tensor.data_type))
    digest.update(repr(tuple(tensor.dims)).encode())
    raw = tensor.raw_data  # one copy out of the proto, not two
    if tensor.data_location == onnx.TensorProto.EXTERNAL and not raw:
        digest.update(repr([(e.key, e.value) for e in tensor.external_data]).encode())
    elif raw:
        digest.update(raw)
    else:
        digest.update(np.ascontiguousarray(tensor_array(tensor)).tobytes())
    return digest.hexdigest()


@functools.cache
def _dtype_key(elem_type: int) -> bytes:
    """numpy's name of an element type, as tensor_hash has always hashed it: once per type, not per tensor."""
    return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).encode()


def _inferred(model: onnx.ModelProto, notes: list[str]) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model)
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError) as error:
        notes.append(f"shape inference failed, shapes are partial: {error}")
        return model


def _type_infos(graph: onnx.GraphProto) -> dict[str, tuple[str | None, list | None]]:
    """(dtype, dims) per tensor name, each distinct type read once: a 100k-node graph has a few dozen, and reading
    every value's dims one by one was a fifth of building its view."""
    values = value_infos(graph)
    keys = {name: value.type.SerializeToString() for name, value in values.items()}
    read: dict[bytes, tuple[str | None, list | None]] = {}
    for name, key in keys.items():
        if key not in read:
            read[key] = shape_of(values[name].type)
    leading = {shape[0] if shape else None
               for _, shape in (read[keys[v.name]] if v.name in keys else (None, None) for v in graph.input)}
    batch = leading.pop() if len(leading) == 1 else None
    known = {key: (dtype, _known_dims(shape, batch if isinstance(batch, str) else None))
             for key, (dtype, shape) in read.items()}
    # each tensor its own list, as when read one by one
    return {name: (dtype, shape if shape is None else list(shape))
            for name, (dtype, shape) in zip(keys, map(known.__getitem__, keys.values()), strict=True)}


def _known_dims(shape: list | None, batch: str | None) -> list | None:
    """Shape inference's invented unk__N dims: the inputs' leading name at axis 0 (what it almost always is,
    and what normalize names the outputs), unknown elsewhere; so render and diff say `batch` as inspect does."""
    if shape is None:
        return None
    return [(batch if axis == 0 else None) if isinstance(dim, str) and _INVENTED.match(dim) else dim
            for axis, dim in enumerate(shape)]


def _attribute_value(attr: onnx.AttributeProto) -> Any:
    if attr.type == onnx.AttributeProto.TENSOR:
        return _tensor_summary(attr.t)
    if attr.type == onnx.AttributeProto.TENSORS:
        return [_tensor_summary(t) for t in attr.tensors]
    if attr.type == onnx.AttributeProto.SPARSE_TENSOR:
        return {"sparse_tensor": _tensor_summary(attr.sparse_tensor.values)}
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in value]
    if isinstance(value, onnx.TypeProto):
        return str(value).strip()
    return value


def _tensor_summary(tensor: onnx.TensorProto) -> dict:
    summary: dict[str, Any] = {
        "tensor": dtype_name(tensor.data_type),
        "shape": list(tensor.dims),
        "hash": tensor_hash(tensor),
    }
    if int(np.prod(tensor.dims, dtype=np.int64)) <= 8 and tensor.data_location != onnx.TensorProto.EXTERNAL:
        summary["values"] = tensor_array(tensor).ravel().tolist()
    return summary


class _Builder:
    """Adds the nodes and edges of a graph and its subgraphs to one MultiDiGraph.

    It fills networkx's documented adjacency layout directly (``G._node``, ``G._succ``, ``G._pred``: node id ->
    data; u -> v -> key -> edge data, one dict shared by both directions), in the order ``add_node`` and
    ``add_edge`` would: their per-call checks were a sixth of building a 100k-node view.
    """

    def __init__(self, g: nx.MultiDiGraph, infos: dict[str, tuple[str | None, list | None]],
                 weights_dir: Path | None = None):
        self.g = g
        self.nodes, self.succ, self.pred = g._node, g._succ, g._pred
        self.weights_dir = weights_dir
        self.infos = infos
        self.input_ids: list[str] = []
        self.output_ids: list[str] = []
        self.ids: set[str] = set()
        self.uses: dict[str, set[bool]] = {}  # initializer id -> whether each use is attribute-like

    def set_roles(self) -> None:
        """Give every initializer its role, from the inputs that read it (converter.graphs.roles)."""
        nodes = self.nodes
        for node_id, uses in self.uses.items():
            data = nodes[node_id]
            data["role"] = constant_role(data["dtype"], uses)

    def _add(self, kind: str, name: str, data: dict[str, Any]) -> str:
        """Add a node: `data` holds its attributes after kind, name and index."""
        node_id = f"{kind}:{name}"
        ids = self.ids
        if node_id in ids:
            node_id = unique_name(node_id, ids, separator="#", first=2)
        else:
            ids.add(node_id)
        self.nodes[node_id] = {"kind": kind, "name": name, "index": len(ids) - 1, **data}
        self.succ[node_id] = {}
        self.pred[node_id] = {}
        return node_id

    def _tensor_edge(self, producer: tuple[str, int], consumer: str, slot: int | None, tensor: str,
                     key: object = None) -> None:
        dtype, shape = self.infos.get(tensor, _UNKNOWN)
        data = {"tensor": tensor, "dtype": dtype, "shape": shape, "slot": slot, "out_slot": producer[1]}
        _link(self.succ, self.pred, producer[0], consumer, slot if key is None else key, data)

    def add_graph(self, graph: onnx.GraphProto) -> None:
        producers: dict[str, tuple[str, int]] = {}
        initializer_names = {init.name for init in graph.initializer}
        for value in graph.input:
            dtype, shape = shape_of(value.type)
            if value.name in initializer_names:
                continue
            node_id = self._add("input", value.name, {"scope": "", "dtype": dtype, "shape": shape,
                                                      "size": _size(shape)})
            self.input_ids.append(node_id)
            producers[value.name] = (node_id, 0)
        self._add_initializers(graph.initializer, producers, scope="")
        self._add_nodes(graph, producers, scope_prefix=None, parent=None)
        for value in graph.output:
            dtype, shape = shape_of(value.type)
            node_id = self._add("output", value.name, {"scope": "", "dtype": dtype, "shape": shape,
                                                       "size": _size(shape)})
            self.output_ids.append(node_id)
            if value.name in producers:
                self._tensor_edge(producers[value.name], node_id, 0, value.name)

    def _add_initializers(self, initializers, producers: dict, scope: str) -> None:
        add, uses, external = self._add, self.uses, onnx.TensorProto.EXTERNAL
        for init in initializers:
            shape = list(init.dims)
            data = {"scope": scope, "dtype": dtype_name(init.data_type), "shape": shape, "size": math.prod(shape),
                    "hash": tensor_hash(init), "tensor": init}
            if init.data_location == external:
                data["weights_dir"] = self.weights_dir
            node_id = add("initializer", init.name, data)
            producers[init.name] = (node_id, 0)
            uses[node_id] = set()

    def _add_nodes(self, graph: onnx.GraphProto, producers: dict, scope_prefix: str | None,
                   parent: str | None) -> None:
        opset, uses, infos, ids = self.g.graph["opset"], self.uses, self.infos, self.ids
        nodes, succ, pred = self.nodes, self.succ, self.pred
        for position, node in enumerate(graph.node):
            op_type = node.op_type
            name = node.name or f"{op_type}_{position}"
            meta = {prop.key: prop.value for prop in node.metadata_props}  # one walk for scope and source
            scope = (meta.get(SCOPE_KEY) or "") if scope_prefix is None else scope_prefix
            attributes, subgraphs = {}, {}
            for a in node.attribute:  # one walk: most nodes have none or one
                if a.type in _GRAPH_ATTRS:
                    subgraphs[a.name] = sum(len(sg.node) for sg in subgraphs_of(a))
                else:
                    attributes[a.name] = _attribute_value(a)
            domain = node.domain or ""
            outputs = list(node.output)  # read once: each read of a proto string field makes a new str
            node_id = "op:" + name  # self._add, inlined for the one kind a big graph is mostly made of
            if node_id in ids:
                node_id = unique_name(node_id, ids, separator="#", first=2)
            else:
                ids.add(node_id)
            nodes[node_id] = {
                "kind": "op", "name": name, "index": len(ids) - 1, "scope": scope, "op_type": op_type,
                "domain": domain, "attributes": attributes, "source": meta.get(SOURCE_KEY), "parent": parent,
                "subgraphs": subgraphs, "output_shapes": [infos.get(out, _UNKNOWN)[1] for out in outputs],
            }
            succ[node_id] = {}
            inputs = pred[node_id] = {}
            version = None
            for slot, tensor in enumerate(node.input):
                producer = producers.get(tensor) if tensor else None
                if producer is None:
                    continue
                source = producer[0]
                dtype, shape = infos.get(tensor, _UNKNOWN)
                data = {"tensor": tensor, "dtype": dtype, "shape": shape, "slot": slot, "out_slot": producer[1]}
                keys = inputs.get(source)  # a new node: its slots are new keys
                if keys is None:
                    succ[source][node_id] = inputs[source] = {slot: data}
                else:
                    keys[slot] = data
                if source in uses:
                    if version is None:
                        version = opset.get(domain, 0)
                    uses[source].add(is_attribute_input(op_type, domain, version, slot))
            for attr in node.attribute if subgraphs else ():
                for sub in subgraphs_of(attr):
                    inner_scope = "/".join(part for part in (scope, f"{name}.{attr.name}") if part)
                    self._add_subgraph(sub, producers, node_id, inner_scope)
            for out_slot, tensor in enumerate(outputs):
                if tensor:
                    producers[tensor] = (node_id, out_slot)

    def _add_subgraph(self, sub: onnx.GraphProto, outer: dict, parent: str, scope: str) -> None:
        producers = dict(outer)
        for slot, value in enumerate(sub.input):
            producers[value.name] = (parent, slot)
        self._add_initializers(sub.initializer, producers, scope=scope)
        self._add_nodes(sub, producers, scope_prefix=scope, parent=parent)
        for slot, value in enumerate(sub.output):
            if value.name in producers:
                self._tensor_edge(producers[value.name], parent, None, value.name, key=f"out{slot}")


_UNKNOWN = (None, None)


def _link(succ: dict, pred: dict, u: str, v: str, key: object, data: dict) -> None:
    """networkx's MultiDiGraph.add_edge between existing nodes: a key already there has its data updated."""
    keys = succ[u].get(v)
    if keys is None:
        keys = succ[u][v] = pred[v][u] = {}
    if key in keys:
        keys[key].update(data)
    else:
        keys[key] = data


def _size(shape: list | None) -> int | None:
    if shape is None or any(not isinstance(dim, int) for dim in shape):
        return None
    return math.prod(shape)
