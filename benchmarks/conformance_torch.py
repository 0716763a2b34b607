"""Conformance of the ONNX -> PyTorch converter: the ONNX backend node tests and the light CNNs vs onnxruntime.

Run: python benchmarks/conformance_torch.py [--filter SUBSTRING] [--json FILE] [--no-light]
"""

from __future__ import annotations

import argparse
import collections
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

__all__ = ["CaseResult", "run_node_case", "randomize_weights", "light_models", "compare_light", "main"]

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@dataclass(frozen=True)
class CaseResult:
    """One backend node test case: did onnxruntime pass it, did we, and why not."""

    name: str
    op: str
    ort_ok: bool
    ours_ok: bool
    reason: str = ""


def _inputs(model: onnx.ModelProto) -> list[str]:
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def _close(actual: list[Any], expected: list[Any], rtol: float, atol: float) -> str:
    """'' when the outputs match (dtype, shape, values), else what differs."""
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for index, (got, want) in enumerate(zip(actual, expected, strict=False)):
        if isinstance(want, list):
            if not isinstance(got, list) or len(got) != len(want):
                return f"output {index}: not a sequence of {len(want)} tensors"
            problem = _close(got, want, rtol, atol)
            if problem:
                return f"output {index} (sequence): {problem}"
            continue
        if want is None or got is None:
            if (want is None) != (got is None):
                return f"output {index}: {'absent' if got is None else 'present'}, expected the opposite"
            continue
        if not isinstance(want, np.ndarray) or not isinstance(got, np.ndarray):
            return f"output {index}: {type(got).__name__}, expected {type(want).__name__}"
        if got.dtype != want.dtype:
            return f"output {index}: dtype {got.dtype}, expected {want.dtype}"
        if got.shape != want.shape:
            return f"output {index}: shape {got.shape}, expected {want.shape}"
        if want.dtype.kind in "fc":
            if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
                return f"output {index}: max abs diff {np.nanmax(np.abs(got - want)):.3g}"
        elif not np.array_equal(got, want):
            return f"output {index}: values differ"
    return ""


def _run_ort(model: onnx.ModelProto, feeds: list[Any]) -> list[Any]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip(_inputs(model), feeds, strict=False)))


def _run_ours(model: onnx.ModelProto, feeds: list[Any]) -> list[Any]:
    from converter.backends.torch import prepare

    return prepare(model).run(feeds)


def _primary_op(case: Any) -> str:
    ops = [n.op_type for n in case.model.graph.node]
    flat = case.name.replace("_", "").lower()
    named = [op for op in ops if op.lower() in flat]
    return max(named, key=len) if named else (ops[0] if ops else "?")


def run_node_case(case: Any) -> CaseResult:
    """Run one backend test case (every data set) through onnxruntime and through the converter."""
    op = _primary_op(case)
    ort_ok, ours_ok, reason = True, True, ""
    for inputs, outputs in case.data_sets or []:
        try:
            ort_ok = ort_ok and not _close(_run_ort(case.model, list(inputs)), list(outputs), case.rtol, case.atol)
        except Exception:  # noqa: BLE001 - a case onnxruntime cannot run is simply not counted
            ort_ok = False
        try:
            problem = _close(_run_ours(case.model, list(inputs)), list(outputs), case.rtol, case.atol)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, grouped by op
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
            error_op = getattr(exc, "op_type", None)
            op = error_op if error_op and error_op != "?" else op
        if problem and ours_ok:
            ours_ok, reason = False, problem
    if not case.data_sets:
        ort_ok, ours_ok, reason = False, False, "no data sets"
    return CaseResult(case.name, op, ort_ok, ours_ok, reason)


def randomize_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """A copy whose weights are seeded random values scaled like a trained network's.

    The light models make every weight with ConstantOfShape(value=0.02); those nodes (and any floating
    initializers) become initializers: rank >= 2 N(0, 1/fan_in); BatchNormalization scale and variance
    U(0.5, 1.5); BatchNormalization mean and every bias N(0, 0.1). Activations then stay O(1) through depth.
    """
    rng = np.random.default_rng(seed)
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    roles = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            roles.setdefault(name, (node.op_type, index))
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    weights = {}
    for node in list(graph.node):
        if node.op_type == "ConstantOfShape" and node.input[0] in initializers:
            weights[node.output[0]] = (tuple(int(d) for d in initializers[node.input[0]]), np.float32)
            graph.node.remove(node)
    for name, array in initializers.items():
        if array.dtype.kind == "f":
            weights[name] = (array.shape, array.dtype)
    kept = [t for t in graph.initializer if t.name not in weights]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    for name, (shape, dtype) in weights.items():
        op, index = roles.get(name, ("", 0))
        if len(shape) >= 2:
            values = rng.standard_normal(shape) / np.sqrt(max(int(np.prod(shape[1:])), 1))
        elif op == "BatchNormalization" and index in (1, 4):
            values = rng.uniform(0.5, 1.5, shape)
        else:
            values = rng.normal(0.0, 0.1, shape)
        graph.initializer.append(numpy_helper.from_array(values.astype(dtype), name))
    return model


def with_pre_softmax_output(model: onnx.ModelProto) -> tuple[onnx.ModelProto, bool]:
    """The model with the input of its last Softmax added as a second output (and whether there was one)."""
    softmaxes = [n for n in model.graph.node if n.op_type == "Softmax"]
    if not softmaxes:
        return model, False
    logits = softmaxes[-1].input[0]
    extended = onnx.ModelProto.FromString(model.SerializeToString())
    extended.graph.output.append(onnx.helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT, None))
    return extended, True


def light_models() -> list[Path]:
    """The nine light CNNs shipped with onnx's backend test data."""
    return sorted(LIGHT_DIR.glob("light_*.onnx"))


@dataclass(frozen=True)
class LightResult:
    """One light CNN with random weights: converter vs onnxruntime on the output and the pre-softmax value."""

    name: str
    ok: bool
    max_abs_output: float = float("nan")
    max_abs_logits: float = float("nan")
    logits_scale: float = float("nan")
    top1_agree: bool = False
    seconds: float = 0.0
    reason: str = ""
    artifacts: dict[str, float] = field(default_factory=dict)


def compare_light(
    path: Path, seed: int = 0, rtol: float = 1e-3, atol: float = 1e-4, artifacts: bool = False
) -> LightResult:
    """Convert one light CNN with random weights and compare it with onnxruntime on a seeded input;
    with `artifacts`, also write it as pt2 and TorchScript, load both back and compare them too."""
    start = time.perf_counter()
    model, has_logits = with_pre_softmax_output(randomize_weights(onnx.load(path), seed))
    first = _inputs(model)[0]
    info = next(i for i in model.graph.input if i.name == first).type.tensor_type
    shape = [d.dim_value or 1 for d in info.shape.dim]
    feed = np.random.default_rng(seed + 1).standard_normal(shape).astype(np.float32)
    expected = _run_ort(model, [feed])
    try:
        actual = _run_ours(model, [feed])
    except Exception as exc:  # noqa: BLE001 - reported per model
        return LightResult(path.stem, False, reason=f"{type(exc).__name__}: {exc}")
    out_diff = float(np.max(np.abs(actual[0] - expected[0])))
    logits_ref = expected[1] if has_logits else expected[0]
    logits_got = actual[1] if has_logits else actual[0]
    logit_diff = float(np.max(np.abs(logits_got - logits_ref)))
    scale = float(np.max(np.abs(logits_ref)))
    ok = np.allclose(actual[0], expected[0], rtol=rtol, atol=atol) and logit_diff <= atol + rtol * scale
    top1 = bool((logits_got.reshape(len(logits_got), -1).argmax(1) == logits_ref.reshape(len(logits_ref), -1)
                 .argmax(1)).all())
    written = _artifact_diffs(model, feed, expected) if artifacts else {}
    ok = ok and all(d <= atol + rtol * float(np.max(np.abs(expected[0]))) for d in written.values())
    return LightResult(path.stem, bool(ok), out_diff, logit_diff, scale, top1, time.perf_counter() - start,
                       artifacts=written)


def _artifact_diffs(model: onnx.ModelProto, feed: np.ndarray, expected: list[Any]) -> dict[str, float]:
    """Max |difference| from onnxruntime of the model written as pt2 and as TorchScript, then loaded."""
    import tempfile

    import torch

    from converter.targets.pt2 import write_pt2
    from converter.targets.torchscript import write_torchscript

    with tempfile.TemporaryDirectory() as folder:
        write_pt2(model, Path(folder) / "m.pt2", example_inputs=[torch.from_numpy(feed)])
        write_torchscript(model, Path(folder) / "m.ts", example_inputs=[torch.from_numpy(feed)])
        loaded = {"pt2": torch.export.load(Path(folder) / "m.pt2").module(),
                  "torchscript": torch.jit.load(Path(folder) / "m.ts")}
        diffs = {}
        with torch.no_grad():
            for kind, module in loaded.items():
                out = module(torch.from_numpy(feed))
                out = out[0] if isinstance(out, (tuple, list)) else out
                diffs[kind] = float(np.max(np.abs(out.numpy() - expected[0])))
    return diffs


def _node_report(results: list[CaseResult]) -> dict[str, Any]:
    ort_passed = [r for r in results if r.ort_ok]
    ours = [r for r in ort_passed if r.ours_ok]
    failures: dict[str, list[str]] = collections.defaultdict(list)
    for r in ort_passed:
        if not r.ours_ok:
            failures[r.op].append(f"{r.name}: {r.reason}")
    return {
        "cases": len(results),
        "onnxruntime_passes": len(ort_passed),
        "ours_pass": len(ours),
        "ours_pass_of_all": sum(r.ours_ok for r in results),
        "fraction": len(ours) / max(len(ort_passed), 1),
        "failures_by_op": dict(sorted(failures.items(), key=lambda kv: (-len(kv[1]), kv[0]))),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the conformance suite and print a summary; exit 0 when the 95% goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", default="", help="only backend cases whose name contains this")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    parser.add_argument("--no-light", action="store_true", help="skip the light CNNs")
    parser.add_argument("--verbose", action="store_true", help="list every failing case")
    parser.add_argument("--no-artifacts", action="store_true", help="do not write the light CNNs as pt2/TorchScript")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    from onnx.backend.test.case.node import collect_testcases

    start = time.perf_counter()
    cases = [c for c in collect_testcases(None) if args.filter in c.name]
    report = _node_report([run_node_case(c) for c in cases])
    report["node_seconds"] = round(time.perf_counter() - start, 1)
    print(f"backend node cases: {report['cases']}; onnxruntime passes {report['onnxruntime_passes']}; "
          f"we pass {report['ours_pass']} of those ({100 * report['fraction']:.1f}%), "
          f"{report['ours_pass_of_all']} of all; {report['node_seconds']} s")
    for op, failures in report["failures_by_op"].items():
        print(f"  {op}: {len(failures)} failing")
        for line in failures if args.verbose else failures[:1]:
            print(f"      {line}")
    if not args.no_light:
        light = [compare_light(path, artifacts=not args.no_artifacts) for path in light_models()]
        report["light"] = [asdict(r) for r in light]
        for r in light:
            status = "ok" if r.ok else "FAIL"
            print(f"  {r.name:24s} {status:4s} max|dout|={r.max_abs_output:.2e} max|dlogits|={r.max_abs_logits:.2e} "
                  f"(|logits|<={r.logits_scale:.2e}) top1 {'same' if r.top1_agree else 'differs'} "
                  f"{' '.join(f'{k} {v:.1e}' for k, v in r.artifacts.items())} {r.seconds:.1f}s {r.reason}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if report["fraction"] >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
