"""Error figures of one output against its expected value, accumulated over samples."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from converter.validation.tolerance import Tolerance

__all__ = ["OutputMetrics", "measure", "failed_run", "merge", "relative_floor", "HISTOGRAM_EDGES", "RELATIVE_RULE"]

RELATIVE_RULE = "max rel = max |actual - expected| / max(|expected|, atol)"

# Histogram of |error| per element: one bin for exact zeros, then decades from 1e-12 to 1e+2 and above.
HISTOGRAM_EDGES = tuple(10.0**e for e in range(-12, 3))


@dataclass(frozen=True)
class OutputMetrics:
    """How one output compares; figures are over every element of every sample compared."""

    name: str
    dtype: str
    shape: tuple
    passed: bool
    tolerance: Tolerance
    max_abs: float = 0.0
    max_rel: float = 0.0
    mean_abs: float = 0.0
    cosine: float = 1.0
    outside_fraction: float = 0.0
    elements: int = 0
    histogram: tuple[int, ...] = ()
    problems: tuple[str, ...] = ()  # shape or dtype mismatches, run-time errors

    def to_dict(self) -> dict:
        return {
            "name": self.name, "dtype": self.dtype, "shape": list(self.shape), "passed": self.passed,
            "rtol": self.tolerance.rtol, "atol": self.tolerance.atol, "max_abs": self.max_abs,
            "max_rel": self.max_rel, "mean_abs": self.mean_abs, "cosine": self.cosine,
            "outside_fraction": self.outside_fraction, "elements": self.elements,
            "histogram": {"edges": list(HISTOGRAM_EDGES), "counts": list(self.histogram)},
            "problems": list(self.problems),
        }


def measure(name: str, actual: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> OutputMetrics:
    """Compare one output of one sample."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    base = OutputMetrics(name, expected.dtype.name, expected.shape, False, tolerance)
    if actual.shape != expected.shape:
        return replace(base, problems=(f"shape {list(actual.shape)} where {list(expected.shape)} was expected",))
    problems = ()
    if actual.dtype != expected.dtype:
        problems = (f"dtype {actual.dtype.name} where {expected.dtype.name} was expected",)
    if actual.size == 0:
        return replace(base, passed=not problems, problems=problems, histogram=_histogram(np.zeros(0)))
    a, e = actual.astype(np.float64).ravel(), expected.astype(np.float64).ravel()
    both_nan = np.isnan(a) & np.isnan(e)
    error = np.where(both_nan, 0.0, np.abs(a - e))
    error = np.where(np.isnan(error), np.inf, error)  # NaN on one side only is an infinite error
    outside = error > tolerance.atol + tolerance.rtol * np.abs(e)
    relative = error / relative_floor(e, tolerance)
    return replace(
        base,
        passed=not problems and not outside.any(),
        max_abs=float(error.max()),
        max_rel=float(np.where(error == 0, 0.0, relative).max()),
        mean_abs=float(error.mean()),
        cosine=_cosine(a, e),
        outside_fraction=float(outside.mean()),
        elements=int(error.size),
        histogram=_histogram(error),
        problems=problems,
    )


def relative_floor(expected: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """The denominator of the relative error: |expected|, but never below atol (or 1 for exact dtypes), so an
    expected value at or near zero measures the error against the tolerance instead of blowing up."""
    return np.maximum(np.abs(expected), tolerance.atol if tolerance.atol > 0 else 1.0)


def failed_run(name: str, tolerance: Tolerance, reason: str) -> OutputMetrics:
    """An output that could not be computed on a sample."""
    return OutputMetrics(name, "", (), False, tolerance, problems=(reason,))


def merge(first: OutputMetrics, second: OutputMetrics) -> OutputMetrics:
    """Combine the figures of two samples of the same output."""
    elements = first.elements + second.elements
    histogram = tuple(x + y for x, y in zip(first.histogram or _zeros(), second.histogram or _zeros(), strict=True))
    return replace(
        first,
        dtype=first.dtype or second.dtype,
        shape=first.shape or second.shape,
        passed=first.passed and second.passed,
        max_abs=max(first.max_abs, second.max_abs),
        max_rel=max(first.max_rel, second.max_rel),
        mean_abs=(first.mean_abs * first.elements + second.mean_abs * second.elements) / elements if elements else 0.0,
        cosine=min(first.cosine, second.cosine),
        outside_fraction=(first.outside_fraction * first.elements + second.outside_fraction * second.elements)
        / elements if elements else 0.0,
        elements=elements,
        histogram=histogram,
        problems=first.problems + tuple(p for p in second.problems if p not in first.problems),
    )


def _cosine(a: np.ndarray, e: np.ndarray) -> float:
    finite = np.isfinite(a) & np.isfinite(e)
    a, e = a[finite], e[finite]
    norms = float(np.linalg.norm(a) * np.linalg.norm(e))
    if norms == 0.0:
        return 1.0 if not a.any() and not e.any() else 0.0
    return float(np.dot(a, e) / norms)


def _histogram(error: np.ndarray) -> tuple[int, ...]:
    zeros = int((error == 0).sum())
    nonzero = error[error > 0]
    bins = np.searchsorted(np.asarray(HISTOGRAM_EDGES), nonzero, side="right")
    counts = np.bincount(bins, minlength=len(HISTOGRAM_EDGES) + 1)
    return (zeros, *map(int, counts))


def _zeros() -> tuple[int, ...]:
    return (0,) * (len(HISTOGRAM_EDGES) + 2)
