"""An explicit registry of op handlers keyed by (domain, op_type, since_version)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import onnx

from converter.errors import UnsupportedOpError

__all__ = ["OpRegistry", "Handler"]

Handler = Callable[..., Any]


@dataclass
class _Versions:
    """The handlers of one (domain, op_type), sorted by the opset they apply from."""

    since: list[int] = field(default_factory=list)
    handlers: list[Handler] = field(default_factory=list)


class OpRegistry:
    """Maps ONNX ops to a converter's handlers; one instance per target framework."""

    def __init__(self, target: str):
        self.target = target
        self._ops: dict[tuple[str, str], _Versions] = {}

    def register(self, op_type: str, *, since: int = 1, domain: str = "") -> Callable[[Handler], Handler]:
        """Decorator: handle `op_type` for opsets >= `since` (until the next registered version)."""

        def add(handler: Handler) -> Handler:
            versions = self._ops.setdefault((_canonical(domain), op_type), _Versions())
            if since in versions.since:
                raise ValueError(f"{self.target}: {domain or 'ai.onnx'}::{op_type} since {since} registered twice")
            index = bisect.bisect(versions.since, since)
            versions.since.insert(index, since)
            versions.handlers.insert(index, handler)
            return handler

        return add

    def lookup(self, node: onnx.NodeProto, opset: int) -> Handler:
        """The handler for `node` at `opset`; raises UnsupportedOpError naming what is supported."""
        versions = self._ops.get((_canonical(node.domain), node.op_type))
        if versions is None:
            raise UnsupportedOpError(
                node.name, node.op_type, opset, f"{self.target} has no handler for this op type"
            )
        index = bisect.bisect(versions.since, opset) - 1
        if index < 0:
            raise UnsupportedOpError(
                node.name, node.op_type, opset,
                f"{self.target} handles it from opset {versions.since[0]} on",
            )
        return versions.handlers[index]

    def supports(self, op_type: str, domain: str = "") -> bool:
        """Whether any opset of `op_type` has a handler."""
        return (_canonical(domain), op_type) in self._ops

    def op_types(self, domain: str = "") -> list[str]:
        """The supported op types of a domain, sorted."""
        wanted = _canonical(domain)
        return sorted(op for dom, op in self._ops if dom == wanted)


def _canonical(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain
