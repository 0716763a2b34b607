"""A batch's rows (model x target) and its summary: counts, summary.json and summary.md."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from converter.core.atomic import atomic_path

__all__ = ["Row", "BatchSummary", "STATUSES", "write_json"]

STATUSES = ("pass", "fail", "error")
SCHEMA = "graphtool.batch/1"


@dataclass(frozen=True)
class Row:
    """One (model, target): pass, fail (validation disagreed) or error (it did not finish), and why."""

    model: str
    target: str
    status: str
    reason: str | None = None
    max_abs_error: float | None = None
    seconds: float = 0.0
    key: str = ""
    resumed: bool = False  # taken from an earlier run's result by --resume
    precision: str = "fp32"  # the manifest's options.precision: what the target was built in

    @property
    def built(self) -> str:
        """The target and, for a low-precision build, its precision: 'onnx', 'onnx (int8)'."""
        return self.target if self.precision == "fp32" else f"{self.target} ({self.precision})"

    def to_dict(self) -> dict:
        return {"model": self.model, "target": self.target, "precision": self.precision, "status": self.status,
                "reason": self.reason, "max_abs_error": self.max_abs_error, "seconds": round(self.seconds, 3),
                "key": self.key, "resumed": self.resumed}

    @classmethod
    def from_dict(cls, data: dict) -> Row:
        return cls(data["model"], data["target"], data["status"], data.get("reason"), data.get("max_abs_error"),
                   float(data.get("seconds", 0.0)), data.get("key", ""), bool(data.get("resumed", False)),
                   data.get("precision", "fp32"))


@dataclass(frozen=True)
class BatchSummary:
    """Every row of a batch; true when every row passed."""

    manifest: str
    rows: tuple[Row, ...]
    seconds: float
    cluster: dict = field(default_factory=dict)  # address, workers, CPUs
    interrupted: bool = False

    def __bool__(self) -> bool:
        return not self.interrupted and all(row.status == "pass" for row in self.rows)

    @property
    def counts(self) -> dict[str, int]:
        return {status: sum(row.status == status for row in self.rows) for status in STATUSES}

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "manifest": self.manifest, "passed": bool(self), "interrupted": self.interrupted,
                "counts": self.counts, "seconds": round(self.seconds, 3), "cluster": self.cluster,
                "rows": [row.to_dict() for row in self.rows]}

    def to_markdown(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts.items())
        lines = [f"# graphtool batch: {self.manifest}", "",
                 f"{len(self.rows)} rows: {counts}; {self.seconds:.1f} s"
                 + (" (interrupted: rows not listed did not finish)" if self.interrupted else ""), "",
                 "| model | target | status | max abs error | seconds | reason |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for row in self.rows:
            error = "" if row.max_abs_error is None else f"{row.max_abs_error:.3g}"
            reason = (row.reason or "").replace("|", "\\|")
            seconds = f"{row.seconds:.1f}" + (" (resumed)" if row.resumed else "")
            lines.append(f"| {row.model} | {row.built} | {row.status} | {error} | {seconds} | {reason} |")
        return "\n".join(lines) + "\n"

    def write(self, folder: Path) -> None:
        """summary.json and summary.md in `folder`, each replaced whole."""
        write_json(folder / "summary.json", self.to_dict())
        with atomic_path(folder / "summary.md", force=True) as temporary:
            temporary.write_text(self.to_markdown())


def write_json(path: Path, document: dict) -> None:
    """Write a JSON document atomically, replacing an older one."""
    with atomic_path(path, force=True) as temporary:
        temporary.write_text(json.dumps(document, indent=2, default=str) + "\n")
