"""What render / diff / validate write for the viewers: HTML reports and TensorBoard runs (see graphs.verbs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from converter.core.errors import GraphtoolError

if TYPE_CHECKING:
    from converter.core.types import LoadedModel
    from converter.validation.report import ValidationReport

__all__ = ["ViewOutput", "VIEWER_FORMATS", "is_viewer_format", "check_outputs", "check_html_path", "render_view",
           "diff_views", "validation_views", "validate_with_views"]

VIEWER_FORMATS = ("html", "tensorboard")


@dataclass(frozen=True)
class ViewOutput:
    """One viewer output: what it is and where it went."""

    viewer: str
    path: Path
    nodes: int

    def to_dict(self) -> dict:
        return {"viewer": self.viewer, "path": str(self.path), "nodes": self.nodes}


def is_viewer_format(fmt: str | None, output: Path | None) -> bool:
    """True for --format html / tensorboard, or -o FILE.html."""
    return fmt in VIEWER_FORMATS or (fmt is None and output is not None and output.suffix == ".html")


def check_outputs(html: Path | None, tensorboard: Path | None, force: bool) -> None:
    """Refuse bad viewer output paths before the slow loading."""
    check_html_path(html, force)
    if tensorboard is not None and tensorboard.exists() and not tensorboard.is_dir():
        raise GraphtoolError(f"{tensorboard}: not a folder; --tensorboard takes a log dir")


def check_html_path(path: Path | None, force: bool, *, make_folder: bool = False) -> None:
    """Refuse a bad output path before any slow loading; `make_folder`: a missing folder will be made."""
    from converter.core.atomic import check_writable

    if path is None:
        return
    if path.suffix.lower() not in (".html", ".htm"):
        raise GraphtoolError(f"{path}: an HTML report needs a .html file name; pass e.g. --html report.html")
    if not (make_folder and not path.parent.is_dir()):
        check_writable(path, force)


def render_view(g: nx.MultiDiGraph, fmt: str, path: Path, title: str, force: bool) -> ViewOutput:
    """`render --format html|tensorboard`: the model alone."""
    if fmt == "html":
        from converter.viewers.data import model_view
        from converter.viewers.html import write_html

        view = model_view(g, title)
        path.parent.mkdir(parents=True, exist_ok=True)  # like a diagram's folder (graphviz_out/)
        return ViewOutput("html", write_html(view, path, force), len(view.nodes))
    if fmt == "tensorboard":
        from converter.core.naming import output_stem
        from converter.viewers.tensorboard import to_graph_def, write_graph

        folder = write_graph(to_graph_def(g), path, output_stem(title), force)
        return ViewOutput("tensorboard", folder, g.number_of_nodes())
    raise GraphtoolError(f"unknown viewer format '{fmt}'; expected one of {', '.join(VIEWER_FORMATS)}")


def diff_views(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, diff: Any, names: tuple[str, str], *,
               html: Path | None = None, tensorboard: Path | None = None, force: bool = False) -> list[ViewOutput]:
    """`diff --html FILE --tensorboard LOGDIR`: B with A's removed nodes coloured by status; both graphs as runs."""
    if tensorboard is not None:
        from converter.core.atomic import check_writable
        from converter.core.naming import output_stem

        runs = (output_stem(names[0]), output_stem(names[1]))
        for run in (runs if runs[0] != runs[1] else (f"a_{runs[0]}", f"b_{runs[1]}")):
            if (tensorboard / run).exists():  # before anything is written: all outputs or none
                check_writable(tensorboard / run, force)
    written = []
    if html is not None:
        from converter.viewers.data import diff_view
        from converter.viewers.html import write_html

        view = diff_view(ga, gb, diff, f"{names[0]} → {names[1]}")
        written.append(ViewOutput("html", write_html(view, html, force), len(view.nodes)))
    if tensorboard is not None:
        from converter.viewers.tensorboard import write_diff

        for folder, g in zip(write_diff(ga, gb, diff, tensorboard, runs, force), (ga, gb), strict=True):
            written.append(ViewOutput("tensorboard", folder, g.number_of_nodes()))
    return written


def validation_views(report: Any, model: Any, title: str, *, html: Path | None = None,
                     tensorboard: Path | None = None, force: bool = False) -> list[ViewOutput]:
    """`validate --html FILE --tensorboard LOGDIR`: per-node error on the graph; error plots per device."""
    document = report.to_dict()
    written = []
    if html is not None:
        from converter.graphs.graph import to_graph
        from converter.viewers.data import error_view
        from converter.viewers.html import write_html

        view = error_view(to_graph(model), document, title)
        written.append(ViewOutput("html", write_html(view, html, force), len(view.nodes)))
    if tensorboard is not None:
        from converter.core.naming import output_stem
        from converter.viewers.tensorboard import write_validation

        folder = write_validation(document, tensorboard, f"validate_{output_stem(title)}", force)
        written.append(ViewOutput("tensorboard", folder, 0))
    return written


def validate_with_views(
    run: Callable[[Callable[[], LoadedModel], Callable[[], LoadedModel] | None], ValidationReport],
    load: Callable[[Any], LoadedModel], model: Any, against: Any | None, *, html: Path | None = None,
    tensorboard: Path | None = None, force: bool = False,
) -> ValidationReport:
    """`validate --html FILE --tensorboard LOGDIR`: check the paths, `run` the validation on loaders of MODEL and
    AGAINST, then draw the error on the model that ran under onnxruntime (AGAINST when given), loaded once."""
    check_outputs(html, tensorboard, force)  # before the slow loading
    loaded: dict[str, LoadedModel] = {}

    def side(role: str, source: Any) -> Callable[[], LoadedModel]:
        def once() -> LoadedModel:
            if role not in loaded:
                loaded[role] = load(source)
            return loaded[role]

        return once

    shown = side("b", against) if against is not None else side("a", model)
    report = run(side("a", model), side("b", against) if against is not None else None)
    title = str(against if against is not None else model)
    views = validation_views(report, shown().model if html is not None else None, title, html=html,
                             tensorboard=tensorboard, force=force)
    return replace(report, views=tuple(views))
