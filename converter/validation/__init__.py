"""Pre-deployment validation: a model against its source framework (or another model), per device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from converter.sources.base import LoadOptions
from converter.validation.engine import compare_sides, resolve_devices, samples_for, side_of
from converter.validation.report import ValidationReport
from converter.validation.runners import ort_runner
from converter.validation.tolerance import Tolerances

__all__ = ["validate", "ValidationReport", "Tolerances"]


def validate(
    model: str | Path | Any,
    against: str | Path | Any | None = None,
    *,
    device: str = "cpu",
    options: LoadOptions | None = None,
    samples: int = 3,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    locate: bool = False,
) -> ValidationReport:
    """MODEL's ONNX under onnxruntime against MODEL's own framework, or MODEL against OTHER, each in its own."""
    from converter import api

    options = options or LoadOptions()
    tolerances = tolerances or Tolerances()
    devices, skipped = resolve_devices(device)
    loaded = api.load(model, options)
    chosen = samples_for(loaded, samples, seed, options.inputs_file is not None)
    if against is None:
        candidates = [side_of(loaded, ort_runner(loaded.model, d)) for d in devices]
        return compare_sides(side_of(loaded), candidates, chosen, tolerances, skipped=skipped, locate=locate)
    other = api.load(against, options)
    expected = side_of(loaded, None if loaded.reference else ort_runner(loaded.model, "cpu"))
    if other.reference is not None:
        candidates, skipped = [side_of(other)], []  # a framework runs where it runs: on the CPU here
    else:
        candidates = [side_of(other, ort_runner(other.model, d)) for d in devices]
    notes = []
    if set(expected.input_names) != set(candidates[0].input_names):
        pairs = ", ".join(f"{a}->{b}" for a, b in zip(expected.input_names, candidates[0].input_names, strict=False))
        notes.append(f"the models' input names differ; inputs matched by position ({pairs})")
    return compare_sides(expected, candidates, chosen, tolerances, skipped=skipped, locate=locate,
                         against=str(against), notes=notes)
