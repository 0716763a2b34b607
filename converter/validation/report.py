"""The result of a validation: per device and output, with the environment it ran in."""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from converter.core.atomic import atomic_path
from converter.core.version import version
from converter.validation.locate import Located
from converter.validation.metrics import OutputMetrics
from converter.validation.samples import Sample

__all__ = ["DeviceResult", "ValidationReport", "environment", "write_report", "SCHEMA"]

SCHEMA = "graphtool.validate/1"


@dataclass(frozen=True)
class DeviceResult:
    """One device's verdict: every output's figures, and the located divergence when asked for."""

    device: str
    runner: str
    status: str  # 'passed' | 'failed' | 'inconclusive' | 'failed-to-run' | 'skipped'
    reason: str | None = None
    outputs: tuple[OutputMetrics, ...] = ()
    located: Located | None = None
    locate_note: str | None = None
    diagnosis: tuple[str, ...] = ()  # where a mismatch lies, where a pattern applies (verdicts.diagnose)

    def to_dict(self) -> dict:
        return {
            "device": self.device, "runner": self.runner, "status": self.status, "reason": self.reason,
            "outputs": [o.to_dict() for o in self.outputs], "diagnosis": list(self.diagnosis),
            "located": self.located.to_dict() if self.located else None, "locate_note": self.locate_note,
        }


@dataclass(frozen=True)
class ValidationReport:
    """True when every device that ran agrees with the reference and the signatures match; an inconclusive
    check is true only with `allow_inconclusive`."""

    model: str
    against: str | None
    reference: str
    samples: tuple[Sample, ...]
    devices: tuple[DeviceResult, ...]
    signature_problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    environment: dict = field(default_factory=dict)
    views: tuple[Any, ...] = ()  # the viewers' files written of it (converter.viewers.outputs.ViewOutput)
    plots: tuple[str, ...] = ()  # the error histograms written of it (validation.plot)
    allow_inconclusive: bool = False

    def __bool__(self) -> bool:
        return self.verdict == "passed" or self.verdict == "inconclusive" and self.allow_inconclusive

    @property
    def verdict(self) -> str:
        """passed, failed, inconclusive or failed-to-run: the worst of the devices that ran."""
        statuses = {d.status for d in self.devices}
        for word in ("failed-to-run", "failed", "inconclusive"):
            if word in statuses:
                return word
        return "failed" if self.signature_problems else "passed"

    @property
    def verdict_line(self) -> str:
        """The final message: the verdict and, for all but passed, the first reason it has."""
        verdict = self.verdict
        outputs = [o for d in self.devices for o in d.outputs if o.verdict == verdict]
        if verdict == "failed-to-run":
            return f"FAILED TO RUN: {outputs[0].reason if outputs else 'an artifact raised'}"
        if verdict == "failed":
            return "FAILED: " + ("signature mismatch" if self.signature_problems and not outputs
                                 else "outputs differ beyond tolerance")
        if verdict == "inconclusive":
            allowed = " (allowed by --allow-inconclusive)" if self.allow_inconclusive else ""
            return f"INCONCLUSIVE{allowed}: output '{outputs[0].name}': {outputs[0].reason}"
        return "PASSED"

    @property
    def located(self) -> Located | None:
        return next((d.located for d in self.devices if d.located), None)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "passed": bool(self),
            "verdict": self.verdict,
            "model": self.model,
            "against": self.against,
            "reference": self.reference,
            "samples": [s.to_dict() for s in self.samples],
            "signature_problems": list(self.signature_problems),
            "devices": [d.to_dict() for d in self.devices],
            "located": self.located.to_dict() if self.located else None,
            "notes": list(self.notes),
            "environment": self.environment,
            "views": [view.to_dict() for view in self.views],
            "plots": list(self.plots),
        }


def write_report(report: ValidationReport, path: Path, force: bool = False) -> None:
    """Write the report's JSON atomically; an existing file is replaced only with ``force``."""
    with atomic_path(path, force=force) as temporary:
        temporary.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")


def _loaded_version(module: str) -> str | None:
    """The version of the module actually imported (two onnxruntime wheels can be installed side by side)."""
    loaded = sys.modules.get(module)
    return getattr(loaded, "__version__", None)


def environment(providers: list[str], cuda_names: list[str]) -> dict:
    """Package versions, providers and devices, for reproducing a report."""
    packages = {"graphtool": version()}
    for name in ("onnx", "onnxruntime", "onnxruntime-gpu", "numpy", "torch", "tensorflow", "tf2onnx"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "packages": packages,
        "onnxruntime_in_use": _loaded_version("onnxruntime"),
        "onnxruntime_providers": providers,
        "cuda_devices": cuda_names,
    }
