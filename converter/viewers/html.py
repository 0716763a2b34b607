"""A View -> one self-contained HTML file: the template, the vendored layout library and the data inline."""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path

from converter.core.atomic import atomic_path
from converter.viewers.data import View

__all__ = ["to_html", "write_html", "LAYOUT_LIBRARY"]

LAYOUT_LIBRARY = "dagre/dagre.min.js"


def _static(name: str) -> str:
    return resources.files("converter.viewers").joinpath("static", name).read_text(encoding="utf-8")


def to_html(view: View) -> str:
    """The report page: opens from file:// with no network and no server."""
    # '</' inside a script element would end it early; JSON allows the escaped slash
    data = json.dumps(view.to_dict(), separators=(",", ":"), default=str).replace("</", "<\\/")
    parts = {"__TITLE__": html.escape(view.title), "__DATA__": data, "__DAGRE__": _static(LAYOUT_LIBRARY)}
    # one pass, so a placeholder's text inside a model's names is never substituted
    return re.sub("__(TITLE|DATA|DAGRE)__", lambda match: parts[match.group(0)], _static("report.html"))


def write_html(view: View, path: Path, force: bool = False) -> Path:
    """Write the page atomically: whole or not at all."""
    with atomic_path(path, force=force) as temporary:
        temporary.write_text(to_html(view), encoding="utf-8")
    return path
