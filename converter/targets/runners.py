"""How each written artifact runs: a SavedModel's signature, a .tflite file, a pt2 program, a TorchScript module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from converter.core.frameworks import quiet, require
from converter.core.runners import Runner, torch_runner
from converter.targets.savedmodel import SIGNATURE_KEY

__all__ = ["savedmodel_runner", "run_tflite", "tflite_runner", "quantized_io", "pt2_runner", "torchscript_runner"]


def savedmodel_runner(
    path: str | Path, inputs: Mapping[str, str], outputs: Mapping[str, str], loaded: Any = None
) -> Runner:
    """A SavedModel's serving_default signature; `inputs`/`outputs` map graph names to signature keys, in order.

    `loaded`: the SavedModel already loaded from `path` (tf.saved_model.load), so it is not loaded twice.
    """
    tf = require("tensorflow", "tf")
    saved = loaded if loaded is not None else tf.saved_model.load(str(path))  # the closure holds it
    serving = saved.signatures[SIGNATURE_KEY]
    declared = {key: spec.dtype for key, spec in serving.structured_input_signature[1].items()}

    def fed(key: str, value: np.ndarray) -> Any:
        tensor = tf.constant(value)
        wanted = declared.get(key, tensor.dtype)
        return tf.cast(tensor, wanted) if tensor.dtype.is_floating and wanted.is_floating else tensor

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = serving(**{key: fed(key, feeds[name]) for name, key in inputs.items()})
        return [_widened(np.asarray(results[key])) for key in outputs.values()]

    return Runner("tensorflow SavedModel", "cpu", run)


def _widened(array: np.ndarray) -> np.ndarray:
    """bfloat16 as float32 (exact), so every comparison downstream sees a numpy float type."""
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


def run_tflite(path: str | Path, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the serving_default signature of a .tflite file on named inputs (signature names)."""
    tf = require("tensorflow", "tf")
    with quiet():  # the Interpreter's deprecation warning and "Created TensorFlow Lite XNNPACK delegate"
        interpreter = tf.lite.Interpreter(model_path=str(path))
        runner = interpreter.get_signature_runner(SIGNATURE_KEY)
        results = runner(**inputs)
    return {name: np.asarray(value) for name, value in results.items()}


def tflite_runner(path: str | Path, inputs: Mapping[str, str], outputs: Mapping[str, str],
                  threads: int | None = None) -> Runner:
    """TensorFlow's TFLite interpreter on a .tflite file, loaded once; the mappings as for savedmodel_runner.

    `threads`: the interpreter's num_threads (TFLite's default where None). Where XNNPACK, the delegate TFLite
    applies by default, cannot prepare the model (some int8 graphs), it runs on TFLite's builtin kernels instead.
    """
    tf = require("tensorflow", "tf")
    interpreter, delegated = _allocated(tf, path, threads)
    signatures = [interpreter.get_signature_runner(SIGNATURE_KEY)]

    def signature(**feeds: np.ndarray) -> dict[str, Any]:
        """The current signature on the feeds; the first delegate failure while invoking switches to builtin kernels."""
        try:
            return signatures[-1](**feeds)
        except RuntimeError as error:
            if len(signatures) > 1 or not delegated or not _delegate_failed(error):
                raise
            signatures.append(_builtin(tf, path, threads).get_signature_runner(SIGNATURE_KEY))
            return signatures[-1](**feeds)

    label = "TFLite interpreter" if delegated else f"TFLite interpreter ({BUILTIN_KERNELS})"

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = signature(**{key: feeds[name] for name, key in inputs.items()})  # resizes to the feeds' shapes
        return [np.asarray(results[key]) for key in outputs.values()]

    quantized_inputs, quantized_outputs = _quantized(signatures[0].get_input_details()), _quantized(
        signatures[0].get_output_details())
    if not quantized_inputs and not quantized_outputs:
        return Runner(label, "cpu", run)

    def run_quantized(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Float feeds quantized with each input's (scale, zero_point); quantized outputs given back as float."""
        results = signature(**{key: _quantize(feeds[name], quantized_inputs.get(key)) for name, key in inputs.items()})
        return [_dequantize(np.asarray(results[key]), quantized_outputs.get(key)) for key in outputs.values()]

    return Runner(label, "cpu", run_quantized)


BUILTIN_KERNELS = "builtin kernels: XNNPACK could not prepare it"


def _allocated(tf: Any, path: str | Path, threads: int | None) -> tuple[Any, bool]:
    """An interpreter with its tensors allocated, where TFLite prepares its default delegate (XNNPACK), and whether
    that delegate is in it: where the delegate fails to prepare, an interpreter with the builtin kernels only."""
    with quiet():  # the Interpreter's deprecation warning and "Created TensorFlow Lite XNNPACK delegate"
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
        try:
            interpreter.allocate_tensors()
            return interpreter, True
        except RuntimeError as error:
            if not _delegate_failed(error):
                raise
    return _builtin(tf, path, threads), False


def _builtin(tf: Any, path: str | Path, threads: int | None) -> Any:
    """An interpreter on TFLite's builtin kernels, without the default delegates."""
    with quiet():
        interpreter = tf.lite.Interpreter(
            model_path=str(path), num_threads=threads,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    return interpreter


def _delegate_failed(error: RuntimeError) -> bool:
    """Whether the error is a delegate's, e.g. "Node number 114 (TfLiteXNNPackDelegate) failed to prepare"."""
    return "delegate" in str(error).lower()


def quantized_io(path: str | Path) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """The .tflite file's integer inputs and outputs: signature key -> (scale, zero_point, dtype)."""
    tf = require("tensorflow", "tf")
    with quiet():
        signature = tf.lite.Interpreter(model_path=str(path)).get_signature_runner(SIGNATURE_KEY)
    return _quantized(signature.get_input_details()), _quantized(signature.get_output_details())


def _quantized(details: Mapping[str, dict]) -> dict[str, tuple]:
    """Signature key -> (scale, zero_point, dtype) of each integer tensor with one quantization scale."""
    pairs = {}
    for key, detail in details.items():
        scale, zero_point = detail["quantization"]
        if np.dtype(detail["dtype"]).kind in "iu" and scale:
            pairs[key] = (float(scale), int(zero_point), np.dtype(detail["dtype"]))
    return pairs


def _quantize(value: np.ndarray, quantization: tuple | None) -> np.ndarray:
    if quantization is None:
        return value
    scale, zero_point, dtype = quantization
    limits = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(value, np.float32) / scale) + zero_point, limits.min, limits.max).astype(dtype)


def _dequantize(value: np.ndarray, quantization: tuple | None) -> np.ndarray:
    if quantization is None:
        return value
    scale, zero_point, _ = quantization
    return ((value.astype(np.float32) - zero_point) * scale).astype(np.float32)


def pt2_runner(path: str | Path, input_names: Sequence[str]) -> Runner:
    """A saved ExportedProgram, as `torch.export.load(path).module()` runs it (a dict by output name: in its order)."""
    import torch

    return torch_runner(_fed_as_declared(torch.export.load(str(path))), input_names, "torch.export program")


def _fed_as_declared(program: Any) -> Any:
    """The program's module, float feeds cast to the float type it declares (a half-precision build with native
    I/O) and bfloat16 results widened to float32, which numpy can hold."""
    import torch

    user_inputs = set(program.graph_signature.user_inputs)
    declared = [node.meta["val"].dtype for node in program.graph.nodes
                if node.op == "placeholder" and node.name in user_inputs]
    module = program.module()

    def run(*args: Any) -> Any:
        cast = [a.to(d) if a.is_floating_point() and d.is_floating_point else a
                for a, d in zip(args, declared, strict=False)]
        return torch.utils._pytree.tree_map(
            lambda t: t.float() if isinstance(t, torch.Tensor) and t.dtype == torch.bfloat16 else t, module(*cast))

    return run


def torchscript_runner(path: str | Path, input_names: Sequence[str]) -> Runner:
    """A saved TorchScript module, as `torch.jit.load(path)` runs it."""
    import torch

    return torch_runner(torch.jit.load(str(path), map_location="cpu"), input_names, "TorchScript module")
