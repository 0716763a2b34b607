"""Conformance of graphtool's converters (ONNX -> TensorFlow, ONNX -> PyTorch) against onnxruntime.

Two yardsticks, the same for both converters:
- the ONNX backend node test cases shipped with onnx: a case counts where onnxruntime (CPU) passes it,
  and a converter passes it when every output has the expected dtype and shape, floats within the
  case's rtol/atol and everything else exactly;
- the nine light CNNs with seeded random weights (see light_models.py), compared on the output and
  on the logits before the final softmax; with --artifacts, also as the files each converter writes
  (SavedModel and TFLite; pt2 and TorchScript), loaded back.
Run: python benchmarks/conformance.py [--backend tf,torch] [--filter S] [--no-nodes] [--no-light]
     [--artifacts] [--verbose] [--json FILE]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from light_models import LIGHT_DIR, data_input, light_case, light_models  # noqa: E402

__all__ = ["CaseResult", "LightResult", "GOALS", "LIGHT_DIR", "mismatch", "run_case", "compare_light", "main"]

GOALS = {"tf": 0.90, "torch": 0.95}  # share of the cases onnxruntime passes (issues 5 and 6)


@dataclass(frozen=True)
class CaseResult:
    """One backend node test case: whether onnxruntime passes it, and each converter's failure ('' = passed)."""

    name: str
    op: str
    ort_ok: bool
    failures: dict[str, str]


@dataclass(frozen=True)
class LightResult:
    """One light CNN through one converter vs onnxruntime: output and logits errors, extras per artifact."""

    model: str
    backend: str
    ok: bool
    output_max_abs: float = float("nan")
    logits_max_abs: float = float("nan")
    logits_scale: float = float("nan")
    top1_equal: bool = False
    seconds: float = 0.0
    artifacts: dict[str, float] = field(default_factory=dict)
    transposes: int | None = None
    reason: str = ""


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


def _ort_runner(model: onnx.ModelProto) -> Callable[[list[Any]], list[Any]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda feeds: session.run(None, dict(zip(names, feeds, strict=False)))


def _backend_runner(backend: str) -> Callable[[onnx.ModelProto], Callable[[list[Any]], list[Any]]]:
    module = __import__(f"converter.backends.{backend}", fromlist=["prepare"])
    return lambda model: module.prepare(model).run


def _primary_op(case: Any) -> str:
    """The op a case is about: the longest op type named in the case's name, else its first node's."""
    ops = [n.op_type for n in case.model.graph.node]
    flat = case.name.replace("_", "").lower()
    named = [op for op in ops if op.lower() in flat]
    return max(named, key=len) if named else (ops[0] if ops else "?")


def _failure(prepare: Callable, case: Any) -> str:
    """'' when the runner built by `prepare` passes every data set of the case, else why not."""
    try:
        run = prepare(case.model)
        for inputs, outputs in case.data_sets:
            problem = mismatch(_arrays(run(_arrays(inputs))), _arrays(outputs), case.rtol, case.atol)
            if problem:
                return problem
    except Exception as error:  # noqa: BLE001 - every failure is recorded and the run goes on
        return f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
    return "" if case.data_sets else "no data sets"


def run_case(case: Any, backends: list[str]) -> CaseResult:
    """One case through onnxruntime and through each converter's backend."""
    ort_ok = not _failure(_ort_runner, case)
    failures = {backend: _failure(_backend_runner(backend), case) for backend in backends}
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


def compare_light(path: Path, backend: str, seed: int = 0, artifacts: bool = False) -> LightResult:
    """One light CNN through one converter vs onnxruntime; ok when the output is within 1e-5 and the
    logits within 1e-4 of their scale, top-1 agrees, and so do the written artifacts with `artifacts`."""
    start = time.perf_counter()
    model, logits, x = light_case(path, seed)
    names = [o.name for o in model.graph.output]
    want = dict(zip(names, _ort_runner(model)([x]), strict=True))
    try:
        prepared = __import__(f"converter.backends.{backend}", fromlist=["prepare"]).prepare(model)
        got = dict(zip(names, prepared.run([x]), strict=True))
        written = _ARTIFACTS[backend](model, x, want) if artifacts else {}
    except Exception as error:  # noqa: BLE001 - reported per model
        return LightResult(path.stem, backend, False, reason=f"{type(error).__name__}: {error}"[:300])
    output = names[0]
    out_err = float(np.max(np.abs(got[output] - want[output])))
    logits_name = logits or output
    logits_err = float(np.max(np.abs(got[logits_name] - want[logits_name])))
    scale = float(np.max(np.abs(want[logits_name]))) or 1.0
    top1 = bool(np.array_equal(np.argmax(got[output], -1), np.argmax(want[output], -1)))
    ok = out_err <= 1e-5 + 1e-4 * float(np.max(np.abs(want[output]))) and logits_err <= 1e-4 * scale and top1
    ok = ok and all(error <= 1e-4 * scale for error in written.values())
    transposes = _transposes(prepared) if backend == "tf" else None
    return LightResult(path.stem, backend, bool(ok), out_err, logits_err, scale, top1,
                       time.perf_counter() - start, written, transposes)


def _transposes(prepared: Any) -> int:
    from converter.targets.tf import count_transposes

    return count_transposes(prepared.module)


def _tf_artifacts(model: onnx.ModelProto, x: np.ndarray, want: dict[str, np.ndarray]) -> dict[str, float]:
    """Max |difference| from onnxruntime over all outputs, as a SavedModel and as a builtin-ops TFLite file."""
    import tensorflow as tf

    from converter.targets.savedmodel import SIGNATURE_KEY, write_savedmodel
    from converter.targets.tflite import run_tflite, write_tflite

    with tempfile.TemporaryDirectory() as folder:
        saved = write_savedmodel(model, Path(folder) / "saved")
        lite = write_tflite(saved.directory, Path(folder) / "model.tflite")
        if lite.select_tf_ops:
            raise RuntimeError("the TFLite file needs Select TF ops")
        feeds = {saved.inputs[data_input(model).name]: x}
        serving = tf.saved_model.load(saved.directory).signatures[SIGNATURE_KEY]
        outputs = {"savedmodel": serving(**{k: tf.constant(v) for k, v in feeds.items()}),
                   "tflite": run_tflite(lite.path, feeds)}
        return {kind: max(float(np.max(np.abs(np.asarray(out[tf_name]) - want[name])))
                          for name, tf_name in saved.outputs.items()) for kind, out in outputs.items()}


def _torch_artifacts(model: onnx.ModelProto, x: np.ndarray, want: dict[str, np.ndarray]) -> dict[str, float]:
    """Max |difference| from onnxruntime over all outputs, written as pt2 and as TorchScript, then loaded."""
    import torch

    from converter.targets.pt2 import write_pt2
    from converter.targets.torchscript import write_torchscript

    example = [torch.from_numpy(x)]
    with tempfile.TemporaryDirectory() as folder:
        write_pt2(model, Path(folder) / "m.pt2", example_inputs=example)
        write_torchscript(model, Path(folder) / "m.ts", example_inputs=example)
        loaded = {"pt2": torch.export.load(Path(folder) / "m.pt2").module(),
                  "torchscript": torch.jit.load(Path(folder) / "m.ts")}
        diffs = {}
        with torch.no_grad():
            for kind, module in loaded.items():
                out = module(*example)
                out = out if isinstance(out, (tuple, list)) else (out,)
                diffs[kind] = max(float(np.max(np.abs(o.numpy() - w))) for o, w in zip(out, want.values(), strict=True))
    return diffs


_ARTIFACTS = {"tf": _tf_artifacts, "torch": _torch_artifacts}


def _print_nodes(report: dict[str, Any], backend: str, verbose: bool) -> None:
    print(f"[{backend}] backend node cases: {report['cases']}; onnxruntime passes {report['onnxruntime_passes']}; "
          f"the converter passes {report['passes']} of those ({report['fraction']:.1%}, goal {report['goal']:.0%}), "
          f"{report['passes_of_all']} of all")
    for op, failures in report["failures_by_op"].items():
        print(f"    {op}: {len(failures)} failing")
        for line in failures if verbose else failures[:1]:
            print(f"        {line}")


def _print_light(r: LightResult) -> None:
    extras = " ".join(f"{k} {v:.1e}" for k, v in r.artifacts.items())
    transposes = f" transposes {r.transposes}" if r.transposes is not None else ""
    print(f"[{r.backend}] {r.model:22s} {'ok' if r.ok else 'FAIL':4s} output {r.output_max_abs:.1e} "
          f"logits {r.logits_max_abs:.1e} (of {r.logits_scale:.1f}) top1 {'same' if r.top1_equal else 'differs'} "
          f"{extras}{transposes} {r.seconds:.1f}s {r.reason}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts for the chosen converters; exit 0 when every goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tf,torch", help="comma-separated: tf, torch")
    parser.add_argument("--filter", default="", help="only node cases whose name contains this")
    parser.add_argument("--no-nodes", action="store_true", help="skip the backend node cases")
    parser.add_argument("--no-light", action="store_true", help="skip the light CNNs")
    parser.add_argument("--artifacts", action="store_true", help="also write and reload each light CNN's files")
    parser.add_argument("--verbose", action="store_true", help="list every failing case")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    args = parser.parse_args(argv)
    backends = [b for b in args.backend.split(",") if b]
    unknown = sorted(set(backends) - set(GOALS))
    if unknown:
        parser.error(f"unknown backend {unknown[0]}; choose from {', '.join(GOALS)}")
    warnings.filterwarnings("ignore")
    report: dict[str, Any] = {}
    met = True
    if not args.no_nodes:
        from onnx.backend.test.case.node import collect_testcases

        start = time.perf_counter()
        results = [run_case(c, backends) for c in collect_testcases(None) if args.filter in c.name]
        report["seconds"] = round(time.perf_counter() - start, 1)
        report["nodes"] = {b: node_report(results, b) for b in backends}
        for backend, nodes in report["nodes"].items():
            _print_nodes(nodes, backend, args.verbose)
            met = met and nodes["fraction"] >= nodes["goal"]
    if not args.no_light:
        light = []
        for path in light_models():
            for backend in backends:
                light.append(compare_light(path, backend, artifacts=args.artifacts))
                _print_light(light[-1])
        report["light"] = [asdict(r) for r in light]
        met = met and all(r.ok for r in light)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
