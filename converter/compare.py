"""Run a normalized ONNX model with onnxruntime and compare it with its source framework's outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from converter.errors import GraphtoolError

__all__ = ["OutputCheck", "Comparison", "run_onnxruntime", "compare_outputs", "TOLERANCES"]

# (rtol, atol) by dtype: an element passes when |onnx - ref| <= atol + rtol * |ref|.
TOLERANCES = {"float64": (1e-7, 1e-9), "float32": (1e-4, 1e-5), "float16": (1e-2, 1e-3), "bfloat16": (2e-2, 1e-2)}


@dataclass(frozen=True)
class OutputCheck:
    """How one output of the converted model compares with the reference."""

    name: str
    shape_ok: bool
    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name, "passed": self.passed, "shape_ok": self.shape_ok, "max_abs": self.max_abs,
            "max_rel": self.max_rel, "rtol": self.rtol, "atol": self.atol, "detail": self.detail,
        }


@dataclass(frozen=True)
class Comparison:
    """Every output's check; true when all pass."""

    outputs: tuple[OutputCheck, ...]

    def __bool__(self) -> bool:
        return all(check.passed for check in self.outputs)

    def to_dict(self) -> dict:
        return {"passed": bool(self), "outputs": [check.to_dict() for check in self.outputs]}


def run_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run the model on CPU with onnxruntime; outputs in graph-output order."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}
        return session.run(None, {name: array for name, array in feeds.items() if name in wanted})
    except Exception as error:  # onnxruntime raises its own exception types for invalid graphs or feeds
        message = str(error).strip().splitlines()[0][:300]
        raise GraphtoolError(f"onnxruntime cannot run the normalized model: {message}") from None


def compare_outputs(names: Sequence[str], actual: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> Comparison:
    """Compare outputs pairwise with per-dtype tolerances."""
    if len(actual) != len(expected):
        raise GraphtoolError(f"the ONNX model has {len(actual)} outputs but the source returned {len(expected)}")
    return Comparison(tuple(_check(n, a, e) for n, a, e in zip(names, actual, expected, strict=True)))


def _check(name: str, actual: np.ndarray, expected: np.ndarray) -> OutputCheck:
    actual, expected = np.asarray(actual), np.asarray(expected)
    rtol, atol = TOLERANCES.get(expected.dtype.name, (0.0, 0.0))
    if actual.shape != expected.shape:
        detail = f"shape {actual.shape} != {expected.shape}"
        return OutputCheck(name, False, float("inf"), float("inf"), rtol, atol, False, detail)
    if actual.size == 0:
        return OutputCheck(name, True, 0.0, 0.0, rtol, atol, True)
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    error = np.abs(a - e)
    error = np.where(np.isnan(a) & np.isnan(e), 0.0, error)
    max_abs = float(np.nanmax(error)) if not np.isnan(error).all() else float("inf")
    max_rel = float(np.max(error / np.maximum(np.abs(e), np.finfo(np.float64).tiny)))
    passed = bool(np.all(error <= atol + rtol * np.abs(e)))
    return OutputCheck(name, True, max_abs, max_rel, rtol, atol, passed)
