"""Writing diagrams: the format, the default path, the .dot source and Graphviz's drawing, atomically."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.core.atomic import atomic_path, check_writable
from converter.core.errors import GraphtoolError
from converter.core.naming import output_stem
from converter.graphs.render import Rendering

__all__ = ["Written", "FORMATS", "DEFAULT_DIR", "default_path", "output_format", "write_rendering"]

FORMATS = ("svg", "png", "pdf", "dot")
DEFAULT_DIR = Path("graphviz_out")
_INSTALL_HINT = (
    "the Graphviz 'dot' program is not installed, so only the .dot file was written; install Graphviz "
    "(apt-get install graphviz, brew install graphviz, or https://graphviz.org/download/) and rerun"
)
PROGRESS_AFTER = 1.0  # seconds of dot's layout before the user is told it is still working


@dataclass(frozen=True)
class Written:
    """The diagram file written; ``output`` is None when, without Graphviz, only the .dot source could be."""

    output: Path | None
    dot: Path | None  # the .dot source, when it is the output or stands in for it
    format: str
    notes: tuple[str, ...] = ()
    seconds: float = 0.0  # Graphviz's layout time

    @property
    def path(self) -> Path:
        """The one file written."""
        return self.output or self.dot  # type: ignore[return-value]

    def to_dict(self) -> dict:
        return {"output": str(self.output) if self.output else None, "dot": str(self.dot) if self.dot else None,
                "format": self.format, "notes": list(self.notes), "layout_seconds": round(self.seconds, 3)}


def default_path(model: Any, fmt: str) -> Path:
    """Where a diagram of MODEL goes without -o: graphviz_out/<name>.<fmt> in the current directory, named as
    convert names artifacts (a file's stem; for file.py:factory, the factory)."""
    return DEFAULT_DIR / f"{output_stem(model)}.{fmt}"


def output_format(path: Path, fmt: str | None) -> str:
    """The format to write: --format when given, else the file's suffix, else svg."""
    chosen = (fmt or path.suffix.lstrip(".") or "svg").lower()
    if chosen not in FORMATS:
        raise GraphtoolError(f"unknown diagram format '{chosen}'; choose one of {', '.join(FORMATS)}")
    return chosen


def write_rendering(rendering: Rendering, path: Path, fmt: str, force: bool = False,
                    progress: Callable[[str], None] | None = None) -> Written:
    """Write exactly ``path``: the diagram in ``fmt`` (the .dot source for 'dot', or in its place, beside it,
    when Graphviz is not installed); atomically, never replacing an existing file unless ``force``.
    ``progress`` hears a line when dot's layout takes longer than a second."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot" or shutil.which("dot") is None:
        dot_path = path if fmt == "dot" else path.with_suffix(".dot")
        with atomic_path(dot_path, force) as temporary:
            temporary.write_text(rendering.source, encoding="utf-8")
        return Written(dot_path if fmt == "dot" else None, dot_path, fmt, () if fmt == "dot" else (_INSTALL_HINT,))
    check_writable(path, force)
    started = time.perf_counter()
    with atomic_path(path, force) as temporary:
        _run_dot(rendering.source, fmt, temporary, progress)
    return Written(path, None, fmt, seconds=time.perf_counter() - started)


def _run_dot(source: str, fmt: str, output: Path, progress: Callable[[str], None] | None) -> None:
    """dot from the source on stdin, so no .dot file is left beside the diagram."""
    process = subprocess.Popen(["dot", f"-T{fmt}", "-o", str(output)], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        process.stdin.write(source.encode("utf-8"))  # type: ignore[union-attr]
        process.stdin.close()  # type: ignore[union-attr]
        try:
            process.wait(PROGRESS_AFTER)
        except subprocess.TimeoutExpired:
            if progress is not None:
                nodes = source.count("label=")
                progress(f"Graphviz is laying out {nodes} boxes; this can take a while")
            process.wait()
        stderr = process.stderr.read().decode("utf-8", "replace")  # type: ignore[union-attr]
    finally:
        if process.poll() is None:  # interrupted: stop dot with us
            process.kill()
            process.wait()
    if process.returncode != 0:
        reason = next((line.strip() for line in stderr.splitlines() if line.strip()), f"exit {process.returncode}")
        raise GraphtoolError(f"Graphviz could not draw the diagram ({reason}); try --depth N or a smaller "
                             "--max-nodes to fold more of it, or -o FILE.dot to keep the source")
