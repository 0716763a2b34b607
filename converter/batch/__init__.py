"""Batch conversion of a model zoo on Ray: a manifest in, one validated row per (model, target) out."""

from __future__ import annotations

from converter.batch.manifest import Manifest, Task, read_manifest
from converter.batch.summary import BatchSummary, Row

__all__ = ["Manifest", "Task", "read_manifest", "BatchSummary", "Row", "BatchOptions", "run_batch"]


def __getattr__(name: str):
    # the runner imports Ray's glue; keep `import converter.batch` light for the manifest checks
    if name in ("BatchOptions", "run_batch"):
        from converter.batch import runner

        return getattr(runner, name)
    raise AttributeError(name)
