"""Graph views and validation reports -> TensorBoard event files, with TensorBoard's own protos (no TensorFlow).

Nodes are named ``scope/name`` so the graphs dashboard folds scopes; weights become ``Const`` nodes with their
values; attributes keep their types; inferred shapes go in ``_output_shapes`` so they show on edges; a diff's
status is the ``graphtool_diff`` attribute of each node.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from converter.core.atomic import atomic_path
from converter.core.errors import MissingExtraError
from converter.graphs.graph import tensor_array

__all__ = ["to_graph_def", "write_graph", "write_diff", "write_validation"]

_CONST_VALUES_LIMIT = 1 << 20  # elements; bigger weights keep dtype and shape only
_DTYPES = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "string": 7, "int64": 9,
           "bool": 10, "float16": 19, "uint16": 17, "uint32": 22, "uint64": 23, "bfloat16": 14}


def _protos() -> Any:
    try:
        from tensorboard.compat.proto import (
            attr_value_pb2,
            event_pb2,
            graph_pb2,
            node_def_pb2,
            summary_pb2,
            tensor_pb2,
            tensor_shape_pb2,
        )
    except ImportError as error:
        raise MissingExtraError("tensorboard", "tensorboard") from error
    return attr_value_pb2, event_pb2, graph_pb2, node_def_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2


def to_graph_def(g: nx.MultiDiGraph, status: dict[str, str] | None = None) -> Any:
    """The GraphDef of a graph view; `status` maps node ids to a diff status."""
    attr_pb2, _, graph_pb2, node_pb2, _, tensor_pb2, shape_pb2 = _protos()
    status = status or {}
    names = _tf_names(g)
    graph_def = graph_pb2.GraphDef()
    for node_id, data in g.nodes(data=True):
        node = graph_def.node.add(name=names[node_id])
        kind = data["kind"]
        if kind == "op":
            node.op = data["op_type"]
            for key, value in data["attributes"].items():
                _set_attr(node.attr[key], value, attr_pb2)
            if data.get("source"):
                node.attr["_source"].s = data["source"].encode()
            shapes = data.get("output_shapes") or []
        elif kind == "initializer":
            node.op = "Const"
            node.attr["dtype"].type = _DTYPES.get(data["dtype"], 0)
            node.attr["value"].tensor.CopyFrom(_tensor(data, tensor_pb2, shape_pb2))
            shapes = [data["shape"]]
        else:
            node.op = "Placeholder" if kind == "input" else "Identity"
            node.attr["dtype"].type = _DTYPES.get(data["dtype"] or "", 0)
            shapes = [data["shape"]]
            if kind == "input":
                node.attr["shape"].shape.CopyFrom(_shape(data["shape"], shape_pb2))
        node.attr["_output_shapes"].list.shape.extend(_shape(s, shape_pb2) for s in shapes)
        if node_id in status:
            node.attr["graphtool_diff"].s = status[node_id].encode()
        inputs = sorted(g.in_edges(node_id, data=True), key=lambda e: (e[2]["slot"] is None, e[2]["slot"] or 0))
        for source, _, edge in inputs:
            port = edge.get("out_slot") or 0
            node.input.append(names[source] + (f":{port}" if port else ""))
    return graph_def


def write_graph(graph_def: Any, logdir: Path, run: str, force: bool = False) -> Path:
    """LOGDIR/RUN/ with one event file holding the graph, written whole or not at all."""
    _, event_pb2, *_ = _protos()
    return _write_run(logdir / run, [event_pb2.Event(graph_def=graph_def.SerializeToString())], force)


def write_diff(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, diff: Any, logdir: Path, runs: tuple[str, str],
               force: bool = False) -> list[Path]:
    """Both graphs as two runs, each node's diff status as its `graphtool_diff` attribute."""
    status_a: dict[str, str] = {}
    status_b: dict[str, str] = {}
    for change in diff.changes:
        if change.a is not None and change.element in ("op", "initializer"):
            status_a[change.a.id] = change.kind
        if change.b is not None and change.element in ("op", "initializer"):
            status_b[change.b.id] = change.kind
    for a, b in diff.matches:
        status_a.setdefault(a, "unchanged")
        status_b.setdefault(b, "unchanged")
    if runs[0] == runs[1]:
        runs = (f"a_{runs[0]}", f"b_{runs[1]}")
    return [write_graph(to_graph_def(ga, status_a), logdir, runs[0], force),
            write_graph(to_graph_def(gb, status_b), logdir, runs[1], force)]


def write_validation(report: dict, logdir: Path, run: str, force: bool = False) -> Path:
    """Per device and output: error scalars and the |error| histogram; one step per device, in report order."""
    _, event_pb2, _, _, summary_pb2, *_ = _protos()
    events = []
    for step, device in enumerate(d for d in report["devices"] if d["status"] != "skipped"):
        values = []
        for output in device["outputs"]:
            tag = f"{device['device']}/{output['name']}"
            for key in ("max_abs", "max_rel", "mean_abs", "cosine", "outside_fraction"):
                values.append(summary_pb2.Summary.Value(tag=f"{tag}/{key}", simple_value=float(output[key])))
            values.append(summary_pb2.Summary.Value(tag=f"{tag}/abs_error", histo=_histogram(output, summary_pb2)))
        events.append(event_pb2.Event(step=step, summary=summary_pb2.Summary(value=values)))
    return _write_run(logdir / run, events, force)


def _write_run(folder: Path, events: list, force: bool) -> Path:
    # RecordWriter on a plain file: EventFileWriter goes through tf.io.gfile, which imports TensorFlow when present
    from tensorboard.summary.writer.record_writer import RecordWriter

    _, event_pb2, *_ = _protos()
    folder.parent.mkdir(parents=True, exist_ok=True)  # a log dir gathers runs: create it, keep what is there
    with atomic_path(folder, force=force) as temporary:
        temporary.mkdir()
        now = time.time()
        name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.graphtool"
        with open(temporary / name, "wb") as stream:
            writer = RecordWriter(stream)
            writer.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
            for event in events:
                event.wall_time = event.wall_time or now
                writer.write(event.SerializeToString())
    return folder


def _histogram(output: dict, summary_pb2: Any) -> Any:
    edges, counts = output["histogram"]["edges"], output["histogram"]["counts"]
    # counts: exact zeros, below edges[0], one per decade, above the last edge
    limits = [0.0, *edges, max(float(output["max_abs"]), edges[-1] * 10)]
    total = sum(counts)
    return summary_pb2.HistogramProto(min=0.0, max=float(output["max_abs"]), num=float(total),
                                      sum=float(output["mean_abs"]) * total, sum_squares=0.0,
                                      bucket_limit=limits[: len(counts)], bucket=[float(c) for c in counts])


def _tf_names(g: nx.MultiDiGraph) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: set[str] = set()
    for node_id, data in g.nodes(data=True):
        scope, leaf = data.get("scope", ""), data["name"].strip("/")
        if data["kind"] == "initializer" and not scope:  # a weight folds into the scope of its first user
            scope = next((g.nodes[user].get("scope", "") for _, user in g.out_edges(node_id)), "")
        if scope:
            leaf = leaf.removeprefix(scope.strip("/") + "/").replace("/", "_")
        full = "/".join(part for part in (scope, leaf) if part).strip("/")
        # TensorBoard's names: no leading '/', no ':' (it marks output ports); a clash gets a suffix
        base = re.sub(r"[^\w./-]", "_", full) or data["kind"]
        name, suffix = base, 1
        while name in taken:
            suffix += 1
            name = f"{base}_{suffix}"
        taken.add(name)
        names[node_id] = name
    return names


def _shape(dims: list | None, shape_pb2: Any) -> Any:
    if dims is None:
        return shape_pb2.TensorShapeProto(unknown_rank=True)
    return shape_pb2.TensorShapeProto(dim=[shape_pb2.TensorShapeProto.Dim(size=d if isinstance(d, int) else -1,
                                                                           name=d if isinstance(d, str) else "")
                                           for d in dims])


def _tensor(data: dict, tensor_pb2: Any, shape_pb2: Any) -> Any:
    tensor = tensor_pb2.TensorProto(dtype=_DTYPES.get(data["dtype"], 0), tensor_shape=_shape(data["shape"], shape_pb2))
    if data.get("size") and data["size"] <= _CONST_VALUES_LIMIT and data["dtype"] in _DTYPES:
        # external data that is not beside the model keeps dtype and shape only
        with contextlib.suppress(ValueError, OSError, TypeError):
            tensor.tensor_content = np.ascontiguousarray(tensor_array(data["tensor"])).tobytes()
    return tensor


def _set_attr(attr: Any, value: Any, attr_pb2: Any) -> None:
    if isinstance(value, bool):
        attr.b = value
    elif isinstance(value, int):
        attr.i = value
    elif isinstance(value, float):
        attr.f = value
    elif isinstance(value, str):
        attr.s = value.encode()
    elif isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        attr.list.i.extend(value)
    elif isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        attr.list.f.extend(float(v) for v in value)
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        attr.list.s.extend(v.encode() for v in value)
    else:  # tensors and empty lists: their summary as text
        attr.s = json.dumps(value, default=str).encode()
