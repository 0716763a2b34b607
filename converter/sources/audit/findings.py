"""What an audit of a model's graph found: ops that are not pure computation, and where they are."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from converter.core.errors import GraphtoolError

__all__ = ["Finding", "Audit", "UntrustedCodeError", "enforce", "trusted_notes"]

_SHOWN = 5  # findings named in the one-line error; `graphtool audit` lists them all


@dataclass(frozen=True)
class Finding:
    """One op that is not known to be pure: what it is, why it was flagged, and where it sits."""

    op: str
    category: str  # file system, printing, random, unknown op, ...
    function: str  # SavedModel function, TorchScript module.method, ONNX graph or function
    node: str

    def describe(self) -> str:
        return f"{self.op} ({self.category}) in {self.function}, node '{self.node}'"

    def to_dict(self) -> dict:
        return {"op": self.op, "category": self.category, "function": self.function, "node": self.node}


@dataclass(frozen=True)
class Audit:
    """A model's graph checked op by op against an allowlist of pure computation, without running it."""

    path: str
    format: str
    functions: int  # functions, methods or graphs walked
    op_counts: dict[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    notices: tuple[Finding, ...] = ()  # allowed, yet no conversion keeps them (a print to stderr)

    def __bool__(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "functions": self.functions,
            "nodes": sum(self.op_counts.values()),
            "op_counts": self.op_counts,
            "clean": bool(self),
            "findings": [finding.to_dict() for finding in self.findings],
            "notices": [notice.to_dict() for notice in self.notices],
        }


class UntrustedCodeError(GraphtoolError):
    """A model's graph does more than pure computation, and --trust-code was not given."""

    def __init__(self, audit: Audit):
        shown = "; ".join(finding.describe() for finding in audit.findings[:_SHOWN])
        more = f"; and {len(audit.findings) - _SHOWN} more" if len(audit.findings) > _SHOWN else ""
        super().__init__(
            f"{audit.path}: the model's graph does more than compute: {shown}{more}. Nothing was run; "
            "pass --trust-code only if you trust its source (`graphtool audit` lists every finding)"
        )
        self.audit = audit


_DROPPED = "runs in the source framework only: converted models drop it (a read's result is baked in as a constant)"


def enforce(audit: Audit, trust_code: bool, fate: str = _DROPPED) -> tuple[str, ...]:
    """Refuse a model with findings unless trusted; the notes that name what trusting it lets run."""
    if audit.findings and not trust_code:
        raise UntrustedCodeError(audit)
    kept = tuple(f"{notice.describe()} runs in the source framework only: converted models drop it"
                 for notice in audit.notices)
    return trusted_notes(audit.findings, fate) + kept


def trusted_notes(findings: Iterable[Finding], fate: str = _DROPPED) -> tuple[str, ...]:
    """One note per finding let through by --trust-code, saying what becomes of it."""
    return tuple(f"--trust-code: {finding.describe()} {fate}" for finding in findings)
