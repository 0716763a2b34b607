"""Atomic writes: an output appears whole or not at all, and never replaces a file without consent."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from converter.errors import GraphtoolError

__all__ = ["check_writable", "atomic_path"]


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
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    os.unlink(temporary)  # the writer creates a file or a folder there
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        if path.is_dir() and force:
            shutil.rmtree(path)
        os.replace(temporary_path, path)
    finally:
        _remove(temporary_path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
