"""The nine light CNNs shipped in onnx's backend test data, made fit for comparing numerics, and their comparison.

Every weight in them is ConstantOfShape(0.02), so every softmax comes out uniform and hides errors.
light_case gives each seeded random weights (He-scaled; BatchNormalization variances positive),
exposes the logits before the final Softmax as a second output, and scales the last weighted layer
so the logits spread (std 3) without saturating the softmax.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from converter.conformance.cases import ort_case_runner

__all__ = ["LightResult", "compare_light", "LIGHT_DIR", "light_models", "light_case", "randomize_weights",
           "with_pre_softmax_output", "calibrate_logits", "data_input"]

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
_HOMOGENEOUS = {"Relu", "Flatten", "Reshape", "GlobalAveragePool", "AveragePool", "Dropout", "Squeeze", "MaxPool"}


def light_models() -> list[Path]:
    """The light_*.onnx files, sorted."""
    return sorted(LIGHT_DIR.glob("light_*.onnx"))


def light_case(path: Path, seed: int = 0) -> tuple[onnx.ModelProto, str | None, np.ndarray]:
    """The model with random weights and its logits exposed (their name, or None), and a seeded input."""
    model, logits = with_pre_softmax_output(randomize_weights(onnx.load(str(path)), seed))
    dims = [d.dim_value or 1 for d in data_input(model).type.tensor_type.shape.dim]
    x = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    if logits:
        calibrate_logits(model, logits, x)
    return model, logits, x


def data_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    """The first graph input that is not an initializer (old IR versions list weights as inputs)."""
    weights = {init.name for init in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in weights)


def randomize_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """A copy with seeded random float initializers (He-scaled; BatchNorm variances positive)."""
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
            new = rng.normal(0.0, np.sqrt(2.0 / int(np.prod(array.shape[1:]))), array.shape)
        else:
            new = rng.normal(0.0, 0.1, array.shape)
        init.CopyFrom(numpy_helper.from_array(new.astype(array.dtype), init.name))
    return result


def _constants_as_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy where ConstantOfShape nodes with constant shapes (the light CNNs' weights) are initializers."""
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
    result.ir_version = max(result.ir_version, 4)  # before IR 4 every initializer had to be a graph input
    return result


def with_pre_softmax_output(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str | None]:
    """The model with the final Softmax's input added as a graph output (its name, or None)."""
    finals = {o.name for o in model.graph.output}
    softmax = next((n for n in model.graph.node if n.op_type == "Softmax" and n.output[0] in finals), None)
    if softmax is None:
        return model, None
    result = onnx.ModelProto()
    result.CopyFrom(model)
    logits = result.graph.output.add()  # Softmax keeps type and shape; the SavedModel writer's checker wants both
    logits.CopyFrom(next(o for o in model.graph.output if o.name == softmax.output[0]))
    logits.name = softmax.input[0]
    return result, softmax.input[0]


def calibrate_logits(model: onnx.ModelProto, logits: str, x: np.ndarray, target_std: float = 3.0) -> None:
    """Scale the last weighted layer so the logits have `target_std` (random weights saturate softmax)."""
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    std = float(np.std(session.run(None, {data_input(model).name: x})[names.index(logits)])) or 1.0
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


def compare_light(path: Path, backend: str, seed: int = 0, artifacts: bool = False) -> LightResult:
    """One light CNN through one converter vs onnxruntime; ok when the output is within 1e-5 and the
    logits within 1e-4 of their scale, top-1 agrees, and so do the written artifacts with `artifacts`."""
    start = time.perf_counter()
    model, logits, x = light_case(path, seed)
    names = [o.name for o in model.graph.output]
    want = dict(zip(names, ort_case_runner(model)([x]), strict=True))
    try:
        prepared = importlib.import_module(f"converter.backends.{backend}").prepare(model)
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

    from converter.targets.runners import run_tflite
    from converter.targets.savedmodel import SIGNATURE_KEY, write_savedmodel
    from converter.targets.tflite import write_tflite

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
                out = list(out.values()) if isinstance(out, dict) else out  # keyed by output name, in order
                out = out if isinstance(out, (tuple, list)) else (out,)
                diffs[kind] = max(float(np.max(np.abs(o.numpy() - w))) for o, w in zip(out, want.values(), strict=True))
    return diffs


_ARTIFACTS = {"tf": _tf_artifacts, "torch": _torch_artifacts}
