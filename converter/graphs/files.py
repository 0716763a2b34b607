"""Writing diagrams: the format, the default path, the .dot source and Graphviz's drawing, atomically."""

from __future__ import annotations

import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphviz

from converter.atomic import atomic_path, check_writable
from converter.errors import GraphtoolError
from converter.graphs.render import Rendering

__all__ = ["Written", "FORMATS", "DEFAULT_DIR", "default_path", "output_format", "write_rendering"]

FORMATS = ("svg", "png", "pdf", "dot")
DEFAULT_DIR = Path("graphviz_out")
_INSTALL_HINT = (
    "the Graphviz 'dot' program is not installed, so only the .dot file was written; install Graphviz "
    "(apt-get install graphviz, brew install graphviz, or https://graphviz.org/download/) and rerun"
)


@dataclass(frozen=True)
class Written:
    """Files written for a diagram; ``output`` is None when only the .dot could be written."""

    output: Path | None
    dot: Path
    format: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"output": str(self.output) if self.output else None, "dot": str(self.dot),
                "format": self.format, "notes": list(self.notes)}


def default_path(model: Any, fmt: str) -> Path:
    """Where a diagram of MODEL goes without -o: graphviz_out/<model's stem>.<fmt>."""
    return DEFAULT_DIR / f"{_stem(model)}.{fmt}"


def output_format(path: Path, fmt: str | None) -> str:
    """The format to write: --format when given, else the file's suffix, else svg."""
    chosen = (fmt or path.suffix.lstrip(".") or "svg").lower()
    if chosen not in FORMATS:
        raise GraphtoolError(f"unknown diagram format '{chosen}'; choose one of {', '.join(FORMATS)}")
    return chosen


def write_rendering(rendering: Rendering, path: Path, fmt: str, force: bool = False) -> Written:
    """Write the .dot source and, when Graphviz is installed, the diagram in ``fmt``; atomically, never
    replacing an existing file unless ``force``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dot_path = path if fmt == "dot" else path.with_suffix(".dot")
    if dot_path == path and fmt != "dot":
        dot_path = path.with_name(path.name + ".dot")
    for target in {dot_path, path}:
        check_writable(target, force)
    with atomic_path(dot_path, force) as temporary:
        temporary.write_text(rendering.source, encoding="utf-8")
    if fmt == "dot":
        return Written(dot_path, dot_path, fmt)
    if shutil.which("dot") is None:
        return Written(None, dot_path, fmt, (_INSTALL_HINT,))
    try:
        with warnings.catch_warnings(), atomic_path(path, force) as temporary:
            warnings.simplefilter("ignore", graphviz.FormatSuffixMismatchWarning)
            graphviz.render("dot", fmt, str(dot_path), outfile=str(temporary), quiet=True)
    except graphviz.CalledProcessError as error:
        raise GraphtoolError(f"Graphviz could not draw {dot_path}: {error.stderr or error}") from None
    return Written(path, dot_path, fmt)


def _stem(model: Any) -> str:
    if not isinstance(model, (str, Path)):
        return "model"
    model = str(model)
    path = Path(model.split(":")[0] if re.match(r"^[^:]+\.py:", model) else model.rstrip("/\\"))
    stem = path.stem if path.suffix else path.name
    return re.sub(r"[^\w.-]+", "_", stem) or "model"
