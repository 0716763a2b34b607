"""Whole-model diff and render: load, build the graph views, compare or draw, write the diagram or the viewers'
files (HTML report, TensorBoard runs: converter.viewers)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter.core.atomic import check_writable
from converter.graphs.bulk import fewer_collections, release
from converter.graphs.changes import Diff
from converter.graphs.diff import diff_graphs
from converter.graphs.files import DEFAULT_DIR, Written, default_path, output_format, write_rendering
from converter.graphs.graph import to_graph
from converter.graphs.render import DEFAULT_MAX_NODES, Rendering, render_diff, render_graph

if TYPE_CHECKING:
    from converter.core.types import LoadedModel, SourceInfo
    from converter.viewers.outputs import ViewOutput

__all__ = ["DiffResult", "RenderResult", "diff_models", "render_model", "view_model"]

Loader = Callable[[Any], "LoadedModel"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class DiffResult:
    """Two models' diff, where each came from, the diagram drawn of it and the viewers' files; true when they
    are identical."""

    diff: Diff
    a: SourceInfo
    b: SourceInfo
    written: Written | None = None
    views: tuple[ViewOutput, ...] = ()

    def __bool__(self) -> bool:
        return self.diff.identical

    def to_dict(self, renames: bool = False) -> dict:
        """The ``graphtool.diff/1`` document, with both sources, the diagram and the viewers' files written."""
        document = self.diff.to_dict(renames=renames)
        document["views"] = [view.to_dict() for view in self.views]
        document["a"], document["b"] = self.a.to_dict(), self.b.to_dict()
        if self.written is not None:
            document["render"] = self.written.to_dict()
        return document


@dataclass(frozen=True)
class RenderResult:
    """A model's diagram: what was drawn and folded, and the files written."""

    rendering: Rendering
    written: Written

    @property
    def notes(self) -> tuple[str, ...]:
        """What the drawing and the writing want the user to know."""
        return (*self.rendering.notes, *self.written.notes)

    def to_dict(self) -> dict:
        return {**self.written.to_dict(), "rendering": self.rendering.to_dict(), "notes": list(self.notes)}


def diff_models(a: Any, b: Any, load: Loader, *, atol: float = 0.0, render_to: Path | None = None,
                force: bool = False, html: Path | None = None, tensorboard: Path | None = None,
                progress: Progress | None = None, load_b: Loader | None = None) -> DiffResult:
    """Load both models (B with ``load_b`` when given), diff their graph views and, with ``render_to``, draw
    the diff there; with ``html`` / ``tensorboard``, write an HTML report / both graphs as TensorBoard runs,
    coloured by the diff."""
    # before the slow loading, so a refusal costs nothing
    if render_to is not None and render_to.parent.is_dir():
        check_writable(render_to, force)
    wants_views = html is not None or tensorboard is not None
    if wants_views:
        from converter.viewers.outputs import check_outputs

        check_outputs(html, tensorboard, force)
    with fewer_collections():
        loaded_a, loaded_b = load(a), (load_b or load)(b)
        ga, gb = _view(loaded_a), _view(loaded_b)
        diff = diff_graphs(ga, gb, atol=atol)
        written = None
        if render_to is not None:
            rendering = render_diff(ga, gb, diff, title=f"{_describe(a)} → {_describe(b)}")
            written = write_rendering(rendering, render_to, output_format(render_to, None), force, progress)
        views = ()
        if wants_views:
            from converter.viewers.outputs import diff_views

            views = tuple(diff_views(ga, gb, diff, (_describe(a), _describe(b)), html=html,
                                     tensorboard=tensorboard, force=force))
        release(ga, gb)
    return DiffResult(diff, loaded_a.source, loaded_b.source, written, views)


def render_model(model: Any, load: Loader, output: Path | None = None, *, fmt: str | None = None,
                 depth: int | None = None, expand: Iterable[str] = (), focus: str | None = None,
                 radius: int = 2, max_nodes: int = DEFAULT_MAX_NODES,
                 force: bool = False, progress: Progress | None = None) -> RenderResult | ViewOutput:
    """Load a model and draw it to ``output`` (default: graphviz_out/<model>.<fmt>); ``fmt`` html or tensorboard
    (or an ``output`` ending in .html) writes a viewer's file instead, see `view_model`."""
    from converter.viewers.outputs import is_viewer_format

    if is_viewer_format(fmt, output):
        return view_model(model, load, output, fmt=fmt or "html", force=force)
    chosen = output_format(output or Path(f"model.{fmt or 'svg'}"), fmt)
    path = output or default_path(model, chosen)
    if path.parent.is_dir():
        check_writable(path, force)  # before the slow loading, so a refusal costs nothing
    with fewer_collections():
        graph = _view(load(model))
    rendering = render_graph(graph, depth=depth, expand=expand, focus_node=focus, radius=radius,
                             max_nodes=max_nodes, title=_describe(model))
    release(graph)
    return RenderResult(rendering, write_rendering(rendering, path, chosen, force, progress))


def view_model(model: Any, load: Loader, output: Path | None = None, *, fmt: str = "html",
               force: bool = False) -> ViewOutput:
    """Write MODEL as a self-contained HTML report (default: graphviz_out/<model>.html) or a TensorBoard run in
    the log dir ``output`` (default: graphviz_out/tensorboard)."""
    from converter.viewers.outputs import check_html_path, render_view

    path = output or (default_path(model, "html") if fmt == "html" else DEFAULT_DIR / "tensorboard")
    if fmt == "html":
        check_html_path(path, force, make_folder=True)  # before the slow loading
    with fewer_collections():
        graph = _view(load(model))
    return render_view(graph, fmt, path, _describe(model), force)


def _view(loaded: LoadedModel) -> Any:
    """The graph view of a loaded model; loading already inferred its shapes (inferring again costs ~1 s per 100k)."""
    return to_graph(loaded.model, infer_shapes=False, weights_dir=loaded.weights_dir)


def _describe(model: Any) -> str:
    return str(model) if isinstance(model, (str, Path)) else type(model).__name__
