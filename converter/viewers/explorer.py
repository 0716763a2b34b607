"""Google's Model Explorer on 127.0.0.1: normalized ONNX, diff status and validation error as node data."""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import onnx

from converter.core.errors import GraphtoolError, MissingExtraError
from converter.core.scopes import node_scope

__all__ = ["STATUS_COLOURS", "diff_node_data", "error_node_data", "with_namespaces", "serve", "free_port"]

STATUS_COLOURS = {"added": "#2e9d4a", "removed": "#d64545", "changed": "#e8912d", "weight_changed": "#8e5bd6"}
_ERROR_GRADIENT = [{"stop": 0, "bgColor": "#ffffff"}, {"stop": 0.5, "bgColor": "#ffd24d"},
                   {"stop": 1, "bgColor": "#d62020"}]


def diff_node_data(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, diff: Any) -> tuple[dict, dict]:
    """Model Explorer node data for each side: removed on A, added / changed / weights changed on B."""
    side_a: dict[str, dict] = {}
    side_b: dict[str, dict] = {}
    for change in diff.changes:
        if change.element == "initializer" and change.b is not None and change.kind != "added":
            for _, user in gb.out_edges(change.b.id):
                if gb.nodes[user]["kind"] == "op":
                    side_b.setdefault(gb.nodes[user]["name"], _status("weight_changed"))
            continue
        if change.element != "op":
            continue
        if change.a is not None:
            side_a[change.a.name] = _status(change.kind)
        if change.b is not None:
            side_b[change.b.name] = _status(change.kind)
    return ({ga.graph["name"]: {"results": side_a}}, {gb.graph["name"]: {"results": side_b}})


def error_node_data(g: nx.MultiDiGraph, report: dict) -> dict:
    """Per-node max abs error from a `validate --locate` report, as a gradient from white to red."""
    from converter.viewers.data import error_view

    view = error_view(g, report, "")
    results = {n["name"]: {"value": float(n["error"])} for n in view.nodes
               if n["kind"] == "op" and n["error"] is not None}
    return {g.graph["name"]: {"results": results, "gradient": _ERROR_GRADIENT}}


def with_namespaces(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose nodes carry Model Explorer's `namespace` metadata, so it folds graphtool's scopes."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for index, node in enumerate(copy.graph.node):
        node.name = node.name or f"{node.op_type}_{index}"
        scope = node_scope(node)
        if scope and not any(prop.key == "namespace" for prop in node.metadata_props):
            node.metadata_props.add(key="namespace", value="/" + scope)
    if not copy.graph.name:
        copy.graph.name = "main_graph"
    return copy


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(model: Any, against: Any | None, report: Path | None, load: Callable[[Any], Any], *, port: int = 0,
          open_browser: bool = True, on_ready: Callable[[str], None] | None = None) -> None:
    """`load` the models, write them with their node data to a temporary folder and serve them until Ctrl+C."""
    try:
        import model_explorer
    except ImportError as error:
        raise MissingExtraError("ai-edge-model-explorer", "explorer") from error
    from converter.core.naming import output_stem
    from converter.graphs.graph import to_graph

    document = _read_report(report) if report is not None else None
    loaded = [load(model)] + ([load(against)] if against is not None else [])
    graphs = [to_graph(item.model) for item in loaded]
    folder = Path(tempfile.mkdtemp(prefix="graphtool-view-"))
    config = model_explorer.config()
    names = []
    for index, (item, spec) in enumerate(zip(loaded, (model, against), strict=False)):
        stem = output_stem(spec) if isinstance(spec, (str, Path)) else type(spec).__name__
        name = f"{'ab'[index]}_{stem.removesuffix('.onnx')}.onnx"
        onnx.save(with_namespaces(item.model), folder / name)
        config.add_model_from_path(str(folder / name))
        names.append(name)
    overlays: list[tuple[str, str, dict]] = []
    if against is not None:
        from converter.graphs.diff import diff_graphs

        data_a, data_b = diff_node_data(*graphs, diff_graphs(*graphs))
        overlays += [("diff", names[0], data_a), ("diff", names[1], data_b)]
    if document is not None:
        overlays.append(("error", names[-1], error_node_data(graphs[-1], document)))
    for index, (label, target, data) in enumerate(overlays):
        path = folder / f"{label}_{index}.json"
        path.write_text(json.dumps(data))
        config.add_node_data_from_path(str(path), model_name=target)
    port = port or free_port()
    if on_ready is not None:
        on_ready(f"http://127.0.0.1:{port}/?data={config.to_url_param_value()}")
    model_explorer.visualize_from_config(config=config, host="127.0.0.1", port=port,
                                         extensions=["model_explorer_onnx"], no_open_in_browser=not open_browser)


def _status(kind: str) -> dict:
    return {"value": kind.replace("_", " "), "bgColor": STATUS_COLOURS[kind], "textColor": "#ffffff"}


def _read_report(path: Path) -> dict:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise GraphtoolError(f"{path}: not a readable JSON report ({error}); "
                             "write one with graphtool validate --locate --report FILE") from error
    if not isinstance(document, dict) or not str(document.get("schema", "")).startswith("graphtool.validate/"):
        raise GraphtoolError(f"{path}: not a graphtool validation report; "
                             "write one with graphtool validate --locate --report FILE")
    return document
