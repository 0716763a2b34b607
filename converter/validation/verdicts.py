"""The word for each output once every sample is in (passed, failed, inconclusive, failed-to-run), and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from converter.validation.metrics import OutputMetrics, outside_mask
from converter.validation.samples import Sample
from converter.validation.tolerance import Tolerance

__all__ = ["VERDICTS", "inconclusive_reason", "settle", "device_status", "Evidence", "diagnose"]

VERDICTS = ("passed", "failed", "inconclusive", "failed-to-run")
_ASK = "give real weights or --inputs"


def inconclusive_reason(outputs: Sequence[np.ndarray], samples: Sequence[Sample], tolerance: Tolerance) -> str | None:
    """Why the reference cannot tell a right artifact from a wrong one, or None: ~0 everywhere, or the same
    on every sample whatever the input. `outputs` are the reference's values of one output, one per sample."""
    floats = [np.asarray(o, dtype=np.float64) for o in outputs if np.issubdtype(np.asarray(o).dtype, np.floating)]
    if not floats or len(floats) != len(outputs) or tolerance.atol == 0:
        return None
    peak = max((float(np.abs(o[np.isfinite(o)]).max()) if np.isfinite(o).any() else 0.0) for o in floats)
    if peak <= tolerance.atol:
        return f"output is ~0 (max |e| {peak:.3g}); {_ASK}"
    compared = 0
    for index in range(1, len(floats)):
        first, other = floats[0], floats[index]
        if other.shape != first.shape or _shares_an_input(samples[0], samples[index]):
            continue
        if outside_mask(other, first, tolerance).any():
            return None
        compared += 1
    if compared:
        return f"output ignores its input (the same on {compared + 1} different samples); {_ASK}"
    return None


def _shares_an_input(first: Sample, other: Sample) -> bool:
    """Whether some input is the same in both samples: an output that depends on that input alone (CLIP's text
    side on its token ids, which the exercises leave as they are) would rightly be the same on both."""
    return first.feeds.keys() != other.feeds.keys() or any(
        np.shape(first.feeds[k]) == np.shape(other.feeds[k]) and np.array_equal(first.feeds[k], other.feeds[k])
        for k in first.feeds)


def settle(metrics: OutputMetrics, inconclusive: str | None) -> OutputMetrics:
    """The output's verdict: a run that raised, then a mismatch, then a check that cannot tell, then passed."""
    if metrics.verdict == "failed-to-run":
        return metrics
    if not metrics.passed:
        return replace(metrics, verdict="failed")
    if inconclusive:
        return replace(metrics, verdict="inconclusive", reason=inconclusive)
    return replace(metrics, verdict="passed")


def device_status(outputs: Sequence[OutputMetrics], signature_failed: bool) -> str:
    """A device's status from its outputs' verdicts, the worst first."""
    verdicts = {o.verdict for o in outputs}
    if "failed-to-run" in verdicts:
        return "failed-to-run"
    if signature_failed or "failed" in verdicts:
        return "failed"
    return "inconclusive" if "inconclusive" in verdicts else "passed"


class Evidence:
    """What a device's mismatches looked like, gathered sample by sample for the diagnosis."""

    def __init__(self) -> None:
        self.masks: dict[tuple[str, str], list[int]] = {}  # (output, mask input) -> [outside at 0, at nonzero]
        self.trend: dict[str, list[float]] = {}  # output -> correlations of |error| with |expected|, per sample
        self.ratio: dict[str, list[float]] = {}  # output -> least-squares actual/expected, where that fits

    def add(self, name: str, sample: Sample, actual: np.ndarray, expected: np.ndarray, tolerance: Tolerance,
            floor: float | None) -> None:
        """One failing output of one sample."""
        outside = outside_mask(actual, expected, tolerance, floor)
        if not outside.any():
            return
        for input_name, mask in sample.feeds.items():
            aligned = _aligned_mask(np.asarray(mask), outside.shape, input_name)
            if aligned is not None:
                counts = self.masks.setdefault((name, input_name), [0, 0])
                counts[0] += int((outside & (aligned == 0)).sum())
                counts[1] += int((outside & (aligned != 0)).sum())
        a, e = actual.astype(np.float64).ravel(), expected.astype(np.float64).ravel()
        finite = np.isfinite(a) & np.isfinite(e)
        a, e = a[finite], e[finite]
        if a.size > 2 and np.ptp(np.abs(e)) > 0 and np.ptp(np.abs(a - e)) > 0:
            self.trend.setdefault(name, []).append(float(np.corrcoef(np.abs(a - e), np.abs(e))[0, 1]))
        if e.size and float(e @ e) > 0:
            c = float(a @ e / (e @ e))
            if np.linalg.norm(a - c * e) < 0.1 * np.linalg.norm(a - e):
                self.ratio.setdefault(name, []).append(c)


def _aligned_mask(mask: np.ndarray, shape: tuple, name: str) -> np.ndarray | None:
    """A 0/1 input broadcast over an output it indexes ([batch, seq] over [batch, seq, ...] or [seq, batch, ...])."""
    if mask.ndim == 0 or len(shape) < mask.ndim or not ("mask" in name.lower() or mask.dtype == np.bool_):
        return None
    if mask.dtype != np.bool_ and not np.isin(mask, (0, 1)).all():
        return None
    if tuple(shape[: mask.ndim]) != mask.shape:
        if mask.ndim != 2 or tuple(shape[:2]) != mask.shape[::-1]:
            return None
        mask = mask.T
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)), shape)


def diagnose(evidence: Evidence, outputs: Sequence[OutputMetrics], samples: Sequence[Sample]) -> tuple[str, ...]:
    """One or two lines on where a mismatch lies, where a pattern applies; () when none does."""
    failed = [o for o in outputs if o.verdict == "failed" and not o.problems]
    if not failed:
        return ()
    lines = []
    for (name, mask), (at_zero, at_nonzero) in evidence.masks.items():
        if at_zero and not at_nonzero or at_nonzero and not at_zero:
            where = "zero" if at_zero else "nonzero (True: padding, for a key_padding_mask)"
            lines.append(f"every differing element of '{name}' ({at_zero + at_nonzero}) is at a position where "
                         f"the mask input '{mask}' is {where}: the sides disagree only at masked positions")
    for output in failed:
        ratios = evidence.ratio.get(output.name, [])
        if ratios and all(abs(r - ratios[0]) < 1e-3 * abs(ratios[0]) for r in ratios):
            lines.append(f"'{output.name}' is {ratios[0]:.4g} x expected: a scale problem")
        elif (trend := evidence.trend.get(output.name)) and min(trend) > 0.9:
            lines.append(f"the error of '{output.name}' grows with |expected| (correlation {min(trend):.2f}): a "
                         "scale or layout problem")
    if len(outputs) > 1 and len(failed) == 1 and all(o.verdict != "failed" for o in outputs if o is not failed[0]):
        lines.append(f"only '{failed[0].name}' differs; the other {len(outputs) - 1} output(s) agree")
    failing = {i for o in failed for i in o.failing_samples}
    if len(samples) > 1 and len(failing) == 1:
        sample = next(s for s in samples if s.index in failing)
        dynamic = sample.sizes != samples[0].sizes
        lines.append(f"differences only on sample {sample.index} ({sample.label})"
                     + (": a dynamic-dim problem" if dynamic else ""))
    return tuple(lines)
