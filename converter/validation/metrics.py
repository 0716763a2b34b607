"""Error figures of one output against its expected value, accumulated over samples."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from converter.validation.tolerance import Tolerance

__all__ = [
    "OutputMetrics", "TaskMetric", "measure", "outside_mask", "failed_run", "merge", "relative_floor",
    "scale_of", "rule_text",
    "HISTOGRAM_EDGES", "RELATIVE_RULE", "NOISE_FACTOR", "MAX_FLOOR",
]

_RULES = {
    "elementwise": "an element passes when |actual - expected| <= atol·s + rtol·|expected|",
    "max": "an output passes when max |actual - expected| <= (atol + rtol)·s",
    "mean": "an output passes when mean |actual - expected| <= atol·s + rtol·mean |expected|",
    "cosine": "an output passes when 1 - cosine(actual, expected) <= rtol",
}
_SCALE = ("s = the output's max |expected| in the sample (at least 1); "
          "max rel = max |actual - expected| / max(|expected|, atol·s)")
# Where a sample's own float32 noise (two runtimes of the source disagreeing) exceeds the tolerance, an
# element passes within this many times that noise floor.
NOISE_FACTOR = 4.0
# ... but a floor above this fraction of the output's scale is no longer rounding: nothing is excused by it.
MAX_FLOOR = 1e-2


def rule_text(stat: str = "elementwise") -> str:
    """The rule an output is judged by, as printed under the table."""
    return f"{_RULES[stat]}; {_SCALE}"


RELATIVE_RULE = rule_text()

# Histogram of |error| per element: one bin for exact zeros, then decades from 1e-12 to 1e+2 and above.
HISTOGRAM_EDGES = tuple(10.0**e for e in range(-12, 3))


@dataclass(frozen=True)
class TaskMetric:
    """A task-level agreement (cosine per row, argmax or top-k agreement) against its threshold."""

    name: str
    value: float
    threshold: float
    rows: int

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "threshold": self.threshold, "rows": self.rows,
                "passed": self.passed}


@dataclass(frozen=True)
class OutputMetrics:
    """How one output compares; figures are over every element of every sample compared.

    `passed` is the numeric judgement (the error statistic, or the task metrics where chosen); `verdict` is
    the word for the output once every sample is in: passed, failed, inconclusive or failed-to-run.
    """

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
    scale: float = 0.0  # the largest s over the samples
    task: tuple[TaskMetric, ...] = ()
    noise: tuple[str, ...] = ()  # samples judged against their float32 noise floor, said how
    failing_samples: tuple[int, ...] = ()
    verdict: str = ""  # set once over every sample (engine); "" until then
    reason: str | None = None  # why inconclusive, or the runtime's reason for failed-to-run

    def to_dict(self) -> dict:
        return {
            "name": self.name, "dtype": self.dtype, "shape": list(self.shape), "passed": self.passed,
            "verdict": self.verdict or ("passed" if self.passed else "failed"), "reason": self.reason,
            "rtol": self.tolerance.rtol, "atol": self.tolerance.atol, "error_stat": self.tolerance.error_stat,
            "scale": self.scale, "max_abs": self.max_abs,
            "max_rel": self.max_rel, "mean_abs": self.mean_abs, "cosine": self.cosine,
            "outside_fraction": self.outside_fraction, "elements": self.elements,
            "metrics": [m.to_dict() for m in self.task], "noise_floor": list(self.noise),
            "failing_samples": list(self.failing_samples),
            "histogram": {"edges": list(HISTOGRAM_EDGES), "counts": list(self.histogram)},
            "problems": list(self.problems),
        }


def scale_of(expected: np.ndarray, tolerance: Tolerance) -> float:
    """s: the output's max |expected| over finite elements, at least 1 (exact dtypes: 1)."""
    if tolerance.atol == 0 and tolerance.rtol == 0:
        return 1.0
    finite = np.abs(expected[np.isfinite(expected)])
    return max(float(finite.max()) if finite.size else 0.0, 1.0)


def measure(name: str, actual: np.ndarray, expected: np.ndarray, tolerance: Tolerance,
            floor: float | None = None, sample: int = 0) -> OutputMetrics:
    """Compare one output of one sample; `floor`, the sample's float32 noise floor, widens what passes."""
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
    error = _error(a, e)
    scale = scale_of(e, tolerance)
    outside = error > _allowed(e, tolerance, scale, floor)
    relative = error / relative_floor(e, tolerance, scale)
    cosine = _cosine(a, e)
    task = tuple(_task_metric(spec, actual, expected) for spec in tolerance.metrics)
    judged = all(m.passed for m in task) if task else _stat_passes(tolerance, error, e, scale, cosine, floor)
    return replace(
        base,
        passed=not problems and judged,
        max_abs=float(error.max()),
        max_rel=float(np.where(error == 0, 0.0, relative).max()),
        mean_abs=float(error.mean()),
        cosine=cosine,
        outside_fraction=float(outside.mean()),
        elements=int(error.size),
        histogram=_histogram(error),
        problems=problems,
        scale=scale,
        task=task,
        failing_samples=() if judged else (sample,),
    )


def outside_mask(actual: np.ndarray, expected: np.ndarray, tolerance: Tolerance,
                 floor: float | None = None) -> np.ndarray:
    """Which elements break the elementwise rule, shaped like the output."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return _error(a, e) > _allowed(e, tolerance, scale_of(e, tolerance), floor)


def _error(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(e)
    error = np.where(both_nan, 0.0, np.abs(a - e))
    return np.where(np.isnan(error), np.inf, error)  # NaN on one side only is an infinite error


def _allowed(e: np.ndarray, tolerance: Tolerance, scale: float, floor: float | None) -> np.ndarray:
    allowed = tolerance.atol * scale + tolerance.rtol * np.abs(e)
    return allowed if floor is None else np.maximum(allowed, NOISE_FACTOR * floor)


def _stat_passes(tolerance: Tolerance, error: np.ndarray, e: np.ndarray, scale: float, cosine: float,
                 floor: float | None) -> bool:
    noise = NOISE_FACTOR * floor if floor is not None else 0.0
    stat = tolerance.error_stat  # elementwise unless chosen
    if stat == "max":
        return float(error.max()) <= max((tolerance.atol + tolerance.rtol) * scale, noise)
    if stat == "mean":
        return float(error.mean()) <= max(tolerance.atol * scale + tolerance.rtol * float(np.abs(e).mean()), noise)
    if stat == "cosine":
        return 1.0 - cosine <= tolerance.rtol
    return bool((error <= _allowed(e, tolerance, scale, floor)).all())


def relative_floor(expected: np.ndarray, tolerance: Tolerance, scale: float = 1.0) -> np.ndarray:
    """The denominator of the relative error: |expected|, but never below atol·s (or 1 for exact dtypes), so an
    expected value at or near zero measures the error against the tolerance instead of blowing up."""
    return np.maximum(np.abs(expected), tolerance.atol * scale if tolerance.atol > 0 else 1.0)


def _task_metric(spec: str, actual: np.ndarray, expected: np.ndarray) -> TaskMetric:
    """cosine (worst row along the last axis), norm (the median row's norm ratio), argmax or topk:K agreement
    (fraction of rows), iou (worst)."""
    name, _, threshold = spec.partition(">=")
    kind, _, k = name.partition(":")
    last = expected.shape[-1] if expected.ndim else 1
    a = actual.astype(np.float64).reshape(-1, last)
    e = expected.astype(np.float64).reshape(-1, last)
    if kind == "cosine":
        values = [_cosine(x, y) if _same_finite(x, y) else 0.0 for x, y in zip(a, e, strict=True)]
        return TaskMetric(name, min(values), float(threshold or 0.9999), len(values))
    if kind == "norm":
        return TaskMetric(name, _norm_agreement(a, e), float(threshold or 0.99), len(a))
    if kind == "iou":
        return _iou(name, a, e, float(threshold or 0.99))
    if kind == "argmax":
        agree = a.argmax(axis=1) == e.argmax(axis=1)
    else:
        top = min(int(k), last)
        agree = np.array([set(np.argsort(-x)[:top]) == set(np.argsort(-y)[:top]) for x, y in zip(a, e, strict=True)])
    return TaskMetric(name, float(agree.mean()), float(threshold or 1.0), int(agree.size))


def failed_run(name: str, tolerance: Tolerance, reason: str) -> OutputMetrics:
    """An output that could not be computed on a sample."""
    return OutputMetrics(name, "", (), False, tolerance, problems=(reason,), verdict="failed-to-run", reason=reason)


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
        scale=max(first.scale, second.scale),
        task=_merge_task(first.task, second.task),
        noise=first.noise + second.noise,
        failing_samples=first.failing_samples + second.failing_samples,
        verdict="failed-to-run" if "failed-to-run" in (first.verdict, second.verdict) else first.verdict,
        reason=first.reason or second.reason,
    )


def _iou(name: str, a: np.ndarray, e: np.ndarray, threshold: float) -> TaskMetric:
    """Boxes (a last axis of 4: x1, y1, x2, y2): the worst row's IoU; anything else is a mask, foreground
    where > 0.5 (probabilities) or > 0 (logits): the IoU of the two foregrounds."""
    if a.shape[1] == 4:
        low, high = np.maximum(a[:, :2], e[:, :2]), np.minimum(a[:, 2:], e[:, 2:])
        inter = np.prod(np.clip(high - low, 0, None), axis=1)
        area = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1) + np.prod(
            np.clip(e[:, 2:] - e[:, :2], 0, None), axis=1)
        union = area - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)
        return TaskMetric(name, float(iou.min()) if iou.size else 1.0, threshold, int(iou.size))
    cut = 0.5 if e.size and e.min() >= 0 and e.max() <= 1 else 0.0
    x, y = a > cut, e > cut
    union = int((x | y).sum())
    return TaskMetric(name, (int((x & y).sum()) / union) if union else 1.0, threshold, 1)


def _merge_task(first: tuple[TaskMetric, ...], second: tuple[TaskMetric, ...]) -> tuple[TaskMetric, ...]:
    """Cosine, norm and IoU keep their worst; agreements are weighted by rows."""
    if not first or not second:
        return first or second
    merged = []
    for x, y in zip(first, second, strict=True):
        rows = x.rows + y.rows
        value = min(x.value, y.value) if x.name.startswith(("cosine", "iou", "norm")) else (
            (x.value * x.rows + y.value * y.rows) / rows if rows else 1.0)
        merged.append(TaskMetric(x.name, value, x.threshold, rows))
    return tuple(merged)


def _same_finite(a: np.ndarray, e: np.ndarray) -> bool:
    """Whether `a` is finite wherever `e` is: an overflow to inf or NaN is no agreement, however the rest lines up."""
    return bool(np.isfinite(a)[np.isfinite(e)].all())


def _norm_agreement(a: np.ndarray, e: np.ndarray) -> float:
    """The median row's ratio of the smaller norm to the larger (1: same magnitude), over rows that are not ~0
    next to the output's largest row: what cosine and argmax cannot see, an output scaled as a whole (the median,
    so that one row that rounding moved does not stand for the output; cosine judges rows one by one)."""
    if not all(_same_finite(x, y) for x, y in zip(a, e, strict=True)):
        return 0.0
    actual, expected = np.linalg.norm(a, axis=1), np.linalg.norm(e, axis=1)
    rows = expected > 1e-6 * max(float(expected.max(initial=0.0)), 1e-30)
    if not rows.any():
        return 1.0
    small, large = np.minimum(actual[rows], expected[rows]), np.maximum(actual[rows], expected[rows])
    return float(np.median(small / large))


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
