"""The ONNX backend node test cases through graphtool's converters, compared strictly against the expected outputs."""

from __future__ import annotations

import collections
import functools
import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from converter.core.errors import first_line

__all__ = [
    "CaseResult", "GOALS", "BACKENDS", "backend_cases", "mismatch", "case_failure", "run_case", "node_report",
    "backend_runner", "ort_case_runner",
]

GOALS = {"tf": 0.90, "torch": 0.95}  # share of the cases onnxruntime passes (issues 5 and 6)
BACKENDS = tuple(GOALS)


@functools.cache
def backend_cases() -> dict[str, Any]:
    """onnx's backend node test cases by name (collected once)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {case.name: case for case in collect_testcases(None)}


@dataclass(frozen=True)
class CaseResult:
    """One backend node test case: whether onnxruntime passes it, and each converter's failure ('' = passed)."""

    name: str
    op: str
    ort_ok: bool
    failures: dict[str, str]


def mismatch(actual: list[Any], expected: list[Any], rtol: float, atol: float) -> str:
    """'' when the outputs match (dtype, shape, values), else what differs."""
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        problem = _tensor_mismatch(got, want, rtol, atol)
        if problem:
            return f"output {index}: {problem}"
    return ""


def _tensor_mismatch(got: Any, want: Any, rtol: float, atol: float) -> str:
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return f"not a sequence of {len(want)} tensors"
        return mismatch(got, want, rtol, atol)
    if want is None or got is None:
        return "" if (want is None) == (got is None) else f"{'absent' if got is None else 'present'}, expected not"
    want, got = np.asarray(want), np.asarray(got)
    if want.dtype == object or got.dtype == object:  # strings: numpy keeps them as objects or unicode
        return "" if want.astype(str).tolist() == got.astype(str).tolist() else "strings differ"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype}, expected {want.dtype}"
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if want.dtype.kind in "fc":
        if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
            return f"max abs diff {np.nanmax(np.abs(got.astype(np.float64) - want)):.3g}"
    elif not np.array_equal(got, want):
        return "values differ"
    return ""


def _arrays(values: Any) -> list[Any]:
    """Case data as numpy (some cases store TensorProtos); sequences and optionals stay as they are."""
    from onnx import numpy_helper

    return [numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v for v in values]


def ort_case_runner(model: onnx.ModelProto) -> Callable[[list[Any]], list[Any]]:
    """onnxruntime (CPU, one thread) on inputs given in graph-input order."""
    from converter.core.onnx_utils import graph_inputs
    from converter.core.runners import ort_runner

    runner = ort_runner(model, threads=1)
    names = [value.name for value in graph_inputs(model.graph)]
    return lambda feeds: runner(dict(zip(names, feeds, strict=False)))


def backend_runner(backend: str) -> Callable[[onnx.ModelProto], Callable[[list[Any]], list[Any]]]:
    """prepare(model).run of converter.backends.BACKEND ('tf' or 'torch')."""
    module = importlib.import_module(f"converter.backends.{backend}")
    return lambda model: module.prepare(model).run


def _primary_op(case: Any) -> str:
    """The op a case is about: the longest op type named in the case's name, else its first node's."""
    ops = [n.op_type for n in case.model.graph.node]
    flat = case.name.replace("_", "").lower()
    named = [op for op in ops if op.lower() in flat]
    return max(named, key=len) if named else (ops[0] if ops else "?")


def case_failure(prepare: Callable, case: Any) -> str:
    """'' when the runner built by `prepare` passes every data set of the case, else why not."""
    try:
        run = prepare(case.model)
        for inputs, outputs in case.data_sets:
            problem = mismatch(_arrays(run(_arrays(inputs))), _arrays(outputs), case.rtol, case.atol)
            if problem:
                return problem
    except Exception as error:  # noqa: BLE001 - every failure is recorded and the run goes on
        return f"{type(error).__name__}: {first_line(error, 160) if str(error) else ''}"
    return "" if case.data_sets else "no data sets"


def run_case(case: Any, backends: list[str]) -> CaseResult:
    """One case through onnxruntime and through each converter's backend."""
    ort_ok = not case_failure(ort_case_runner, case)
    failures = {backend: case_failure(backend_runner(backend), case) for backend in backends}
    return CaseResult(case.name, _primary_op(case), ort_ok, failures)


def node_report(results: list[CaseResult], backend: str) -> dict[str, Any]:
    """Counts for one converter and its failures grouped by op, most failing first."""
    reference = [r for r in results if r.ort_ok]
    failures: dict[str, list[str]] = collections.defaultdict(list)
    for r in reference:
        if r.failures[backend]:
            failures[r.op].append(f"{r.name}: {r.failures[backend]}")
    passed = len(reference) - sum(len(f) for f in failures.values())
    return {
        "cases": len(results),
        "onnxruntime_passes": len(reference),
        "passes": passed,
        "passes_of_all": sum(not r.failures[backend] for r in results),
        "fraction": passed / max(len(reference), 1),
        "goal": GOALS[backend],
        "failures_by_op": dict(sorted(failures.items(), key=lambda kv: (-len(kv[1]), kv[0]))),
    }


