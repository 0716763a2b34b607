"""Whole-model diff and render: load, build the graph views, compare or draw, write the diagram."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter.atomic import check_writable
from converter.graphs.changes import Diff
from converter.graphs.diff import diff_graphs
from converter.graphs.files import Written, default_path, output_format, write_rendering
from converter.graphs.graph import to_graph
from converter.graphs.render import DEFAULT_MAX_NODES, Rendering, render_diff, render_graph

if TYPE_CHECKING:
    from converter.sources.base import LoadedModel, SourceInfo

__all__ = ["DiffResult", "RenderResult", "diff_models", "render_model"]

Loader = Callable[[Any], "LoadedModel"]


@dataclass(frozen=True)
class DiffResult:
    """Two models' diff, where each came from, and the diagram drawn of it; true when they are identical."""

    diff: Diff
    a: SourceInfo
    b: SourceInfo
    written: Written | None = None

    def __bool__(self) -> bool:
        return self.diff.identical

    def to_dict(self, renames: bool = False) -> dict:
        """The ``graphtool.diff/1`` document, with both sources and the diagram written."""
        document = self.diff.to_dict(renames=renames)
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
                force: bool = False) -> DiffResult:
    """Load both models, diff their graph views and, with ``render_to``, draw the diff there."""
    if render_to is not None and render_to.parent.is_dir():
        check_writable(render_to, force)  # before the slow loading, so a refusal costs nothing
    loaded_a, loaded_b = load(a), load(b)
    ga, gb = to_graph(loaded_a.model), to_graph(loaded_b.model)
    diff = diff_graphs(ga, gb, atol=atol)
    written = None
    if render_to is not None:
        rendering = render_diff(ga, gb, diff, title=f"{_describe(a)} → {_describe(b)}")
        written = write_rendering(rendering, render_to, output_format(render_to, None), force)
    return DiffResult(diff, loaded_a.source, loaded_b.source, written)


def render_model(model: Any, load: Loader, output: Path | None = None, *, fmt: str | None = None,
                 depth: int | None = None, expand: Iterable[str] = (), focus: str | None = None,
                 radius: int = 2, max_nodes: int = DEFAULT_MAX_NODES, force: bool = False) -> RenderResult:
    """Load a model and draw it to ``output`` (default: graphviz_out/<model>.<fmt>)."""
    chosen = output_format(output or Path(f"model.{fmt or 'svg'}"), fmt)
    path = output or default_path(model, chosen)
    if path.parent.is_dir():
        check_writable(path, force)  # before the slow loading, so a refusal costs nothing
    graph = to_graph(load(model).model)
    rendering = render_graph(graph, depth=depth, expand=expand, focus_node=focus, radius=radius,
                             max_nodes=max_nodes, title=_describe(model))
    return RenderResult(rendering, write_rendering(rendering, path, chosen, force))


def _describe(model: Any) -> str:
    return str(model) if isinstance(model, (str, Path)) else type(model).__name__
