"""Atomic writes: an output appears whole or not at all, and never replaces a file without consent."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from converter.core.errors import GraphtoolError

__all__ = ["check_writable", "atomic_path", "staging_path", "move_into_place", "remove"]


def check_writable(path: Path, force: bool) -> None:
    """Refuse to overwrite an existing output unless `force`; check its folder exists."""
    if path.exists() and not force:
        raise GraphtoolError(f"{path}: already exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise GraphtoolError(f"{path}: the folder {path.parent} does not exist")


@contextlib.contextmanager
def atomic_path(path: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success move it into place, on any failure remove it."""
    check_writable(path, force)
    temporary = staging_path(path)
    try:
        yield temporary
        move_into_place(temporary, path, force)
    finally:
        remove(temporary)


def staging_path(path: Path) -> Path:
    """An unused name beside `path` (same filesystem, so the final rename is atomic); nothing is created."""
    # the real suffix last: Graphviz warns when an output file's suffix is not its format
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(handle)
    os.unlink(temporary)  # the writer creates a file or a folder there
    return Path(temporary)


def move_into_place(temporary: Path, path: Path, force: bool) -> None:
    """Rename a finished file or folder onto `path`, replacing what is there only when `force`."""
    check_writable(path, force)
    if path.is_dir() and force:
        shutil.rmtree(path)
    os.replace(temporary, path)


def remove(path: Path) -> None:
    """Delete a file or folder if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
