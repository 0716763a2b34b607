"""Resolve user-named Python references: `file.py:name` or `package.module:name`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from converter.core.errors import GraphtoolError

__all__ = ["resolve"]


def resolve(reference: str) -> Any:
    """Import the module of `reference` and return the named object; the user named this code, so it runs."""
    target, sep, name = reference.rpartition(":")
    if not sep or not target or not name:
        raise GraphtoolError(f"{reference}: expected file.py:NAME or package.module:NAME")
    if target.endswith(".py") or "/" in target:
        module = _load_file(Path(target), reference)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as error:
            raise GraphtoolError(f"{reference}: cannot import module '{target}' ({error})") from error
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            available = sorted(n for n in vars(module) if not n.startswith("_"))
            raise GraphtoolError(
                f"{reference}: '{target}' has no '{name}'; it defines {', '.join(available[:12]) or 'nothing'}"
            )
        obj = getattr(obj, part)
    return obj


def load_module(target: str, what: str) -> Any:
    """Import a Python file or a named module (the user named it, so it runs); `what` prefixes errors."""
    if target.endswith(".py") or "/" in target:
        return _load_file(Path(target), what)
    try:
        return importlib.import_module(target)
    except ImportError as error:
        raise GraphtoolError(f"{what}: cannot import module '{target}' ({error})") from error


def _load_file(path: Path, reference: str):
    if not path.is_file():
        raise GraphtoolError(f"{reference}: no such Python file '{path}'")
    module_name = "graphtool_user_" + path.stem.replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path.resolve())
    if spec is None or spec.loader is None:
        raise GraphtoolError(f"{reference}: cannot load '{path}' as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    directory = str(path.resolve().parent)
    sys.path.insert(0, directory)  # so the file can import its siblings
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(module_name, None)
        raise GraphtoolError(f"{reference}: running '{path}' failed: {type(error).__name__}: {error}") from error
    finally:
        sys.path.remove(directory)
    return module
