"""Conformance of the ONNX -> TensorFlow converter: ONNX backend node tests and the light CNNs vs onnxruntime.

Run: python benchmarks/conformance_tf.py [--only SUBSTRING] [--skip-nodes] [--skip-cnns] [--tflite] [--json FILE]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__all__ = [
    "run_node_cases",
    "run_light_cnns",
    "run_light_cnns_tflite",
    "light_case",
    "savedmodel_and_tflite_outputs",
    "outputs_match",
    "randomize_weights",
    "calibrate_logits",
]

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def outputs_match(expected, actual, rtol: float, atol: float) -> bool:
    """Floats within the case's rtol/atol (NaNs equal), everything else exactly, shapes equal."""
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual, strict=True):
        if isinstance(want, np.generic):
            want = np.asarray(want)
        if isinstance(want, list) or not isinstance(want, np.ndarray):
            return False
        got = np.asarray(got)
        if want.shape != got.shape:
            return False
        if want.dtype.kind in "fc":
            if not np.allclose(got.astype(want.dtype), want, rtol=rtol, atol=atol, equal_nan=True):
                return False
        elif want.dtype == object or got.dtype == object:
            if want.astype(str).tolist() != got.astype(str).tolist():
                return False
        elif not np.array_equal(got.astype(want.dtype), want):
            return False
    return True


def _arrays(values) -> list:
    """Case data as numpy (some cases store TensorProtos); sequences and optionals stay as they are."""
    from onnx import numpy_helper

    return [numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v for v in values]


def _ort_passes(case) -> bool:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(case.model.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        for inputs, outputs in case.data_sets:
            inputs, outputs = _arrays(inputs), _arrays(outputs)
            got = session.run(None, dict(zip(names, inputs, strict=False)))
            if not outputs_match(outputs, got, case.rtol, case.atol):
                return False
    except Exception:  # noqa: BLE001 - any onnxruntime failure means "not a reference case"
        return False
    return True


def _ours(case) -> tuple[bool, str]:
    from converter.backends import tf as backend

    try:
        rep = backend.prepare(case.model)
        for inputs, outputs in case.data_sets:
            inputs, outputs = _arrays(inputs), _arrays(outputs)
            got = rep.run(inputs)
            if not outputs_match(outputs, got, case.rtol, case.atol):
                return False, "wrong result"
    except Exception as error:  # noqa: BLE001 - the benchmark records every failure and goes on
        return False, f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
    return True, ""


@dataclass
class NodeReport:
    """Counts of the backend node cases and the failures grouped by op type."""

    total: int = 0
    ort_passed: int = 0
    we_passed: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)


def _op_of(case) -> str:
    ops = [n.op_type for n in case.model.graph.node]
    return ops[0] if len(ops) == 1 else "+".join(sorted(set(ops)))[:60]


def run_node_cases(only: str | None = None, verbose: bool = False) -> NodeReport:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    report = NodeReport()
    failures = collections.defaultdict(list)
    for case in cases:
        if only and only not in case.name:
            continue
        report.total += 1
        if not _ort_passes(case):
            continue
        report.ort_passed += 1
        ok, why = _ours(case)
        if ok:
            report.we_passed += 1
        else:
            failures[_op_of(case)].append(f"{case.name}: {why}")
            if verbose:
                print(f"FAIL {case.name}: {why}", file=sys.stderr)
    report.failures = dict(sorted(failures.items(), key=lambda kv: -len(kv[1])))
    return report


def randomize_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """A copy with seeded random float initializers (He-scaled; BatchNorm variances positive)."""
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    variances = {n.input[4] for n in model.graph.node if n.op_type == "BatchNormalization"}
    result = _constants_as_initializers(model)
    for init in result.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype.kind != "f":
            continue
        if init.name in variances:
            new = rng.uniform(0.5, 1.5, array.shape)
        elif array.ndim >= 2:
            fan_in = int(np.prod(array.shape[1:]))
            new = rng.normal(0.0, np.sqrt(2.0 / fan_in), array.shape)
        else:
            new = rng.normal(0.0, 0.1, array.shape)
        init.CopyFrom(numpy_helper.from_array(new.astype(array.dtype), init.name))
    return result


def _constants_as_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy where ConstantOfShape nodes with constant shapes (the light CNNs' weights) are initializers."""
    from onnx import numpy_helper

    result = onnx.ModelProto()
    result.CopyFrom(model)
    known = {init.name: numpy_helper.to_array(init) for init in result.graph.initializer}
    keep = []
    for node in result.graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            known[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        if node.op_type == "ConstantOfShape" and node.input[0] in known:
            value = next((numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"), np.zeros(1))
            array = np.full(known[node.input[0]].astype(np.int64), value.reshape(-1)[0], value.dtype)
            result.graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
            continue
        keep.append(node)
    del result.graph.node[:]
    result.graph.node.extend(keep)
    # Before IR 4 every initializer had to be a graph input; the new ones are not.
    result.ir_version = max(result.ir_version, 4)
    return result


def with_pre_softmax_output(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str | None]:
    """The model with the final Softmax's input added as a graph output (its name, or None)."""
    finals = {o.name for o in model.graph.output}
    softmax = next((n for n in model.graph.node if n.op_type == "Softmax" and n.output[0] in finals), None)
    if softmax is None:
        return model, None
    result = onnx.ModelProto()
    result.CopyFrom(model)
    # Softmax keeps type and shape; onnx's checker (run before a SavedModel is written) wants both.
    logits = result.graph.output.add()
    logits.CopyFrom(next(o for o in model.graph.output if o.name == softmax.output[0]))
    logits.name = softmax.input[0]
    return result, softmax.input[0]


def _data_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    weights = {init.name for init in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in weights)


def _input_array(model: onnx.ModelProto, rng) -> np.ndarray:
    dims = [d.dim_value or 1 for d in _data_input(model).type.tensor_type.shape.dim]
    return rng.standard_normal(dims).astype(np.float32)


_HOMOGENEOUS = {"Relu", "Flatten", "Reshape", "GlobalAveragePool", "AveragePool", "Dropout", "Squeeze", "MaxPool"}


def calibrate_logits(model: onnx.ModelProto, logits: str, x: np.ndarray, target_std: float = 3.0) -> None:
    """Scale the last weighted layer so the logits have `target_std` (random weights saturate softmax)."""
    import onnxruntime as ort
    from onnx import numpy_helper

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    std = float(np.std(session.run(None, {_data_input(model).name: x})[names.index(logits)])) or 1.0
    producers = {out: node for node in model.graph.node for out in node.output}
    node = producers.get(logits)
    while node is not None and node.op_type in _HOMOGENEOUS:
        node = producers.get(node.input[0])
    if node is None or node.op_type not in ("Gemm", "Conv", "MatMul"):
        return
    inits = {init.name: init for init in model.graph.initializer}
    for name in node.input[1:3]:
        if name in inits:
            array = numpy_helper.to_array(inits[name]) * np.float32(target_std / std)
            inits[name].CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))


def light_case(path: Path, seed: int = 0) -> tuple[onnx.ModelProto, str | None, np.ndarray]:
    """A light CNN with random weights and its logits exposed (name or None), and an input for it."""
    model, logits_name = with_pre_softmax_output(randomize_weights(onnx.load(str(path)), seed))
    x = _input_array(model, np.random.default_rng(seed))
    if logits_name:
        calibrate_logits(model, logits_name, x)
    return model, logits_name, x


def run_light_cnns(seed: int = 0) -> list[dict]:
    """Each light CNN with random weights: max abs/rel error vs onnxruntime, top-1 agreement, Transposes."""
    import onnxruntime as ort

    from converter.backends import tf as backend
    from converter.targets.tf import count_transposes, from_onnx

    rows = []
    for path in sorted(LIGHT_DIR.glob("light_*.onnx")):
        model, logits_name, x = light_case(path, seed)
        row = {"model": path.stem}
        try:
            started = time.perf_counter()
            rep = backend.prepare(model)
            row["convert_s"] = round(time.perf_counter() - started, 2)
            ours = rep.run([x])
            session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            theirs = session.run(None, {_data_input(model).name: x})
            for label, index in (("output", 0), ("pre_softmax", 1 if logits_name else None)):
                if index is None:
                    continue
                want, got = theirs[index], ours[index]
                scale = float(np.max(np.abs(want))) or 1.0
                row[f"{label}_max_abs"] = float(np.max(np.abs(want - got)))
                row[f"{label}_max_rel"] = row[f"{label}_max_abs"] / scale
            row["top1_equal"] = bool(np.array_equal(np.argmax(theirs[0], -1), np.argmax(ours[0], -1)))
            row["transposes"] = count_transposes(rep.module)
            row["transposes_unpropagated"] = count_transposes(from_onnx(model, propagate_layout=False))
            row["ok"] = row["output_max_abs"] <= 1e-5 and (logits_name is None or row["pre_softmax_max_rel"] <= 1e-4)
        except Exception as error:  # noqa: BLE001 - reported per model
            row["ok"] = False
            row["error"] = f"{type(error).__name__}: {error}"[:300]
        rows.append(row)
    return rows


def run_light_cnns_tflite(seed: int = 0) -> list[dict]:
    """Each light CNN with random weights as SavedModel and as builtin-only TFLite: max abs errors vs onnxruntime."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # the light CNNs list their initializers as inputs: a warning each
    rows = []
    for path in sorted(LIGHT_DIR.glob("light_*.onnx")):
        model, logits_name, x = light_case(path, seed)
        row = {"model": path.stem}
        try:
            row.update(_tflite_row(model, logits_name, x))
        except Exception as error:  # noqa: BLE001 - reported per model
            row.update(ok=False, error=f"{type(error).__name__}: {error}"[:300])
        rows.append(row)
    return rows


def _tflite_row(model: onnx.ModelProto, logits_name: str | None, x: np.ndarray) -> dict:
    """Errors of both artifacts on the output and the logits; ok within the light CNNs' tolerances."""
    import tempfile

    want = _ort_outputs(model, x)
    with tempfile.TemporaryDirectory() as folder:
        got, select_tf_ops = savedmodel_and_tflite_outputs(model, x, Path(folder))
    output = model.graph.output[0].name
    row: dict = {"select_tf_ops": select_tf_ops}
    ok = not select_tf_ops
    for kind, values in got.items():
        row[f"{kind}_output_max_abs"] = float(np.max(np.abs(values[output] - want[output])))
        ok = ok and row[f"{kind}_output_max_abs"] <= 1e-5
        if logits_name:
            error = float(np.max(np.abs(values[logits_name] - want[logits_name])))
            row[f"{kind}_pre_softmax_max_abs"] = error
            ok = ok and error <= 1e-4 * float(np.max(np.abs(want[logits_name])))
    row["top1_equal"] = bool(np.array_equal(np.argmax(got["tflite"][output], -1), np.argmax(want[output], -1)))
    row["ok"] = ok and row["top1_equal"]
    return row


def savedmodel_and_tflite_outputs(model: onnx.ModelProto, x: np.ndarray, folder: Path) -> tuple[dict, bool]:
    """{"savedmodel"|"tflite": {ONNX output name: array}} for input `x`, and whether TFLite needs Select TF ops."""
    import tensorflow as tf

    from converter.targets.savedmodel import SIGNATURE_KEY, write_savedmodel
    from converter.targets.tflite import run_tflite, write_tflite

    saved = write_savedmodel(model, folder / "saved")
    lite = write_tflite(saved.directory, folder / "model.tflite")
    feeds = {saved.inputs[_data_input(model).name]: x}
    serving = tf.saved_model.load(saved.directory).signatures[SIGNATURE_KEY]
    raw = {
        "savedmodel": serving(**{k: tf.constant(v) for k, v in feeds.items()}),
        "tflite": run_tflite(lite.path, feeds),
    }
    named = {
        kind: {name: np.asarray(out[tf_name]) for name, tf_name in saved.outputs.items()} for kind, out in raw.items()
    }
    return named, lite.select_tf_ops


def _ort_outputs(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {_data_input(model).name: x}), strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only node cases whose name contains this")
    parser.add_argument("--skip-nodes", action="store_true")
    parser.add_argument("--skip-cnns", action="store_true")
    parser.add_argument("--tflite", action="store_true", help="also run the light CNNs as SavedModel and TFLite")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict = {}
    if not args.skip_nodes:
        report = run_node_cases(args.only, args.verbose)
        share = report.we_passed / report.ort_passed if report.ort_passed else 0.0
        print(
            f"backend node cases: {report.total}; onnxruntime passes {report.ort_passed}; "
            f"TensorFlow converter passes {report.we_passed} of those ({share:.1%})"
        )
        for op, cases in report.failures.items():
            print(f"  {op}: {len(cases)} failing, e.g. {cases[0]}")
        results["nodes"] = asdict(report)
    if not args.skip_cnns:
        rows = run_light_cnns()
        for row in rows:
            print(json.dumps(row))
        results["light_cnns"] = rows
    if args.tflite:
        rows = run_light_cnns_tflite()
        for row in rows:
            print(json.dumps(row))
        results["light_cnns_tflite"] = rows
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
