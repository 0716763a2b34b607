"""Audit TorchScript archives and ExportedPrograms op by op, before anything runs or traces them."""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

from converter.core.errors import GraphtoolError, first_line
from converter.sources.audit.allowlists import TORCH_PRINTS, torch_category
from converter.sources.audit.findings import Audit, Finding

__all__ = ["audit_archive_code", "audit_script_module", "audit_exported"]

_FILE_LINE = re.compile(r'File "([^"]*)", line (\d+)')
_SETSTATE = re.compile(rb"^\s*def __setstate__\(", re.MULTILINE)


def audit_archive_code(path: str) -> Audit:
    """A TorchScript archive whose code defines __setstate__ runs it while torch.jit.load reads the file."""
    findings = []
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if "/code/" in f"/{name}" and name.endswith(".py") and _SETSTATE.search(archive.read(name)):
                    findings.append(Finding("__setstate__", "runs while the archive loads", name, "__setstate__"))
    except Exception as error:  # zipfile's and zlib's errors for a damaged archive
        raise GraphtoolError(f"{path}: not a loadable TorchScript archive ({first_line(error)})") from error
    return Audit(path, "torchscript", 0, {}, tuple(findings))


def audit_script_module(module: Any, path: str) -> Audit:
    """Every method of the module and its submodules, with the functions they call inlined."""
    counts: Counter[str] = Counter()
    findings: dict[tuple[str, str], Finding] = {}
    notices: dict[tuple[str, str], Finding] = {}
    methods = 0
    for name, submodule in reversed(list(module.named_modules())):  # submodules first: findings name the owner
        for method in submodule._c._method_names():
            methods += 1
            where = f"{name or getattr(module, 'original_name', type(module).__name__)}.{method}"
            for node in _nodes(submodule._c._get_method(method).inlined_graph.nodes()):
                counts[node.kind()] += 1
                category = torch_category(node.kind())
                if node.kind() in TORCH_PRINTS:
                    _add(notices, Finding(node.kind(), "printing to the console", where, _source_line(node)))
                elif category:
                    _add(findings, Finding(node.kind(), category, where, _source_line(node)))
    return Audit(path, "torchscript", methods, dict(counts.most_common()), tuple(findings.values()),
                 tuple(notices.values()))


def _add(found: dict[tuple[str, str], Finding], finding: Finding) -> None:
    """Inlining repeats a submodule's nodes in its callers; the first place seen, its own method, is kept."""
    found.setdefault((finding.op, finding.node), finding)


def audit_exported(program: Any, path: str) -> Audit:
    """Every call_function node of the program's graph modules (higher-order ops' subgraphs included)."""
    counts: Counter[str] = Counter()
    findings = []
    graphs = 0
    for name, submodule in program.graph_module.named_modules():
        graph = getattr(submodule, "graph", None)
        if graph is None:
            continue
        graphs += 1
        for node in graph.nodes:
            if node.op != "call_function":
                continue
            kind = _target_kind(node.target)
            counts[kind] += 1
            category = torch_category(kind)
            if category and kind not in TORCH_PRINTS:
                findings.append(Finding(kind, category, name or "graph", node.name))
    return Audit(path, "exported-program", graphs, dict(counts.most_common()), tuple(findings))


def _nodes(nodes: Iterator[Any]) -> Iterator[Any]:
    for node in nodes:
        yield node
        for block in node.blocks():
            yield from _nodes(block.nodes())


def _source_line(node: Any) -> str:
    """`file:line` of the TorchScript code that made the node, or the node's kind when unknown."""
    match = _FILE_LINE.search(node.sourceRange())
    return f"{match[1].replace(chr(92), '/').rsplit('/', 1)[-1]}:{match[2]}" if match else node.kind()


def _target_kind(target: Any) -> str:
    """aten::add for torch.ops.aten.add.Tensor; higher-order and Python callables by qualified name."""
    schema = getattr(target, "_schema", None)
    if schema is not None:
        return schema.name
    namespace = getattr(target, "namespace", None)
    name = getattr(target, "__name__", None) or str(target)
    if namespace:
        return f"{namespace}::{name}"
    module = getattr(target, "__module__", "") or ""
    return f"{module}::{name}" if module.startswith("_operator") or module == "operator" else f"python::{module}.{name}"
