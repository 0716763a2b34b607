"""One registry class for both converters: op handlers keyed by (domain, op_type, since_version)."""

from __future__ import annotations

import bisect
import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import onnx

from converter.core.errors import UnsupportedOpError

__all__ = ["OpRegistry", "OpEntry", "Handler"]

Handler = Callable[..., Any]


@dataclass(frozen=True)
class OpEntry:
    """One registered handler and what its converter needs to know about it beyond the call."""

    op_type: str
    since: int
    handler: Handler
    domain: str = ""
    layout: Any = None  # TensorFlow: how the handler treats channels-last data (a tf.layout.Layout)
    dims: Handler | None = None  # PyTorch: keeps symbolic shape values symbolic; returns None to decline


@dataclass
class _Versions:
    """The entries of one (domain, op_type), sorted by the opset they apply from."""

    since: list[int] = field(default_factory=list)
    entries: list[OpEntry] = field(default_factory=list)


class OpRegistry:
    """Maps ONNX ops to a converter's handlers; one instance per target framework.

    `modules` is the explicit list of handler modules (under `package`) that fill it when imported.
    """

    def __init__(self, target: str, package: str = "", modules: tuple[str, ...] = ()):
        self.target = target
        self.package = package
        self.modules = modules
        self._ops: dict[tuple[str, str], _Versions] = {}

    def register(
        self, op_type: str, *, since: int = 1, domain: str = "", layout: Any = None, dims: Handler | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator: handle `op_type` for opsets >= `since` (until the next registered version)."""

        def add(handler: Handler) -> Handler:
            versions = self._ops.setdefault((_canonical(domain), op_type), _Versions())
            if since in versions.since:
                raise ValueError(f"{self.target}: {domain or 'ai.onnx'}::{op_type} since {since} registered twice")
            index = bisect.bisect(versions.since, since)
            entry = OpEntry(op_type, since, handler, _canonical(domain), layout, dims)
            versions.since.insert(index, since)
            versions.entries.insert(index, entry)
            return handler

        return add

    def load(self) -> OpRegistry:
        """Import every handler module of `modules` once; returns the filled registry."""
        for name in self.modules:
            importlib.import_module(f"{self.package}.{name}")
        return self

    def entry(self, node: onnx.NodeProto, opset: int) -> OpEntry:
        """The entry for `node` at `opset`; raises UnsupportedOpError naming what is supported."""
        versions = self._ops.get((_canonical(node.domain), node.op_type))
        if versions is None:
            raise UnsupportedOpError(node.name, node.op_type, opset, self._missing(node))
        index = bisect.bisect(versions.since, opset) - 1
        if index < 0:
            raise UnsupportedOpError(
                node.name, node.op_type, opset,
                f"{self.target} handles it from opset {versions.since[0]} on",
            )
        return versions.entries[index]

    def _missing(self, node: onnx.NodeProto) -> str:
        known = self.op_types(node.domain)
        close = difflib.get_close_matches(node.op_type, known, n=3)
        hint = f" (closest: {', '.join(close)})" if close else ""
        return f"{self.target} has no handler for this op type; it handles {len(known)} op types of this domain{hint}"

    def lookup(self, node: onnx.NodeProto, opset: int) -> Handler:
        """The handler for `node` at `opset`; raises UnsupportedOpError naming what is supported."""
        return self.entry(node, opset).handler

    def supports(self, op_type: str, domain: str = "") -> bool:
        """Whether any opset of `op_type` has a handler."""
        return (_canonical(domain), op_type) in self._ops

    def op_types(self, domain: str = "") -> list[str]:
        """The supported op types of a domain, sorted."""
        wanted = _canonical(domain)
        return sorted(op for dom, op in self._ops if dom == wanted)

    def entries(self) -> list[OpEntry]:
        """Every registered entry, by (domain, op_type, since)."""
        return [e for key in sorted(self._ops) for e in self._ops[key].entries]


def _canonical(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain
