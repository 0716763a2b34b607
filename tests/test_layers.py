"""The package's layering, counted with every import (those inside functions too), and a planted violation."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top: a package may import its own layer's modules only within itself, and any lower layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("sources", "targets", "graphs"),
    ("validation",),
    ("viewers", "backends", "conformance"),
    ("pipelines",),
    ("deploy", "batch"),
    ("bench",),
    ("api",),
    ("cli",),
    ("__main__",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# What the CLI may import besides the API: the core's option and error types, and whatever --help needs at once.
CLI_MAY_IMPORT = ("api", "core")


def module_name(path: Path, root: Path) -> str:
    """converter/graphs/diff.py -> converter.graphs.diff; a package's __init__ is the package."""
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> Iterable[tuple[int, str]]:
    """(line, imported converter module) for every import statement anywhere in SOURCE, lazy ones included."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
            # `from converter import api` imports converter.api, not (only) converter's own __init__
            yield from ((node.lineno, name) for name in submodules or [base])


def layer_of(module: str) -> str | None:
    """converter.graphs.diff -> 'graphs'; converter.api -> 'api'; the package itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def package_edges(root: Path, package: str = "converter") -> dict[tuple[str, str], list[str]]:
    """(importing layer, imported layer) -> 'file:line imports module' for every cross-package import."""
    paths = {module_name(path, root): path for path in (root / package).rglob("*.py")}
    known = set(paths)
    edges: dict[tuple[str, str], list[str]] = {}
    for module, path in paths.items():
        for line, imported in imports_of(path.read_text(), module, path.name == "__init__.py", known):
            if not imported.startswith(package + ".") and imported != package:
                continue
            source, target = layer_of(module), layer_of(imported)
            if source and target and source != target:
                where = f"{path.relative_to(root)}:{line} imports {imported}"
                edges.setdefault((source, target), []).append(where)
    return edges


def violations(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    """Every import that points up or sideways in LAYERS, or from the CLI past the API and the core."""
    found = []
    for (source, target), places in sorted(edges.items()):
        if source not in RANK or target not in RANK:
            found += [f"{place}: '{source}' or '{target}' is in no layer of LAYERS" for place in places]
        elif source == "cli" and target not in CLI_MAY_IMPORT:
            found += [f"{place}: the CLI imports only the API and the core" for place in places]
        elif RANK[target] >= RANK[source]:
            found += [f"{place}: {source} (layer {RANK[source]}) may not import {target} (layer {RANK[target]})"
                      for place in places]
    return found


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Every cycle among the packages, as a path that ends where it started."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append(path[path.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, path + [node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return found


def test_every_import_points_down_the_layers():
    edges = package_edges(ROOT)
    assert not violations(edges), "\n".join(violations(edges))


def test_no_cycle_between_packages():
    assert cycles(package_edges(ROOT)) == []


def test_every_package_has_a_layer():
    packages = {path.stem if path.is_file() else path.name for path in (ROOT / "converter").iterdir()
                if (path.is_dir() and (path / "__init__.py").exists()) or path.suffix == ".py"}
    assert packages - {"__init__"} <= set(RANK)


@pytest.mark.parametrize("planted, expected", [
    # a lazy import inside a function, sources -> validation: the kind of import that hid the old cycles
    ({"sources/loader.py": "def f():\n    from converter.validation import engine\n"}, "sources (layer 1) may not"),
    # siblings in one layer do not import each other
    ({"targets/artifacts.py": "from converter.graphs import graph\n"}, "targets (layer 1) may not import graphs"),
    # a relative import resolves to the package it names
    ({"graphs/diff.py": "def f():\n    from ..viewers import html\n"}, "graphs (layer 1) may not import viewers"),
    # the CLI past the API
    ({"cli/validate.py": "def f():\n    from converter.validation import report\n"}, "the CLI imports only"),
])
def test_a_planted_violation_is_caught(tmp_path, planted, expected):
    for relative in ("sources/loader.py", "validation/engine.py", "targets/artifacts.py", "graphs/graph.py",
                     "graphs/diff.py", "viewers/html.py", "cli/validate.py", "validation/report.py"):
        path = tmp_path / "converter" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(planted.get(relative, "")))
    (tmp_path / "converter" / "__init__.py").touch()
    found = violations(package_edges(tmp_path))
    assert len(found) == 1 and expected in found[0], found


def test_a_planted_cycle_is_caught(tmp_path):
    for relative, text in {"graphs/a.py": "from converter.viewers import b\n",
                           "viewers/b.py": "def f():\n    import converter.graphs.a\n"}.items():
        path = tmp_path / "converter" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    assert cycles(package_edges(tmp_path)) == [["graphs", "viewers", "graphs"]]


def test_test_folders_mirror_the_packages():
    folders = {path.name for path in (ROOT / "tests").iterdir()
               if path.is_dir() and path.name not in {"golden", "__pycache__"}}
    assert folders <= set(RANK), folders - set(RANK)
