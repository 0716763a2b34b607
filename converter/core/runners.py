"""The Runner protocol (named inputs in, outputs in graph-output order) and the runners every layer shares:
onnxruntime, onnx's reference evaluator, and a torch module called with the inputs in order.

Each source and each target brings the Runner for what it loads or writes; validation compares the Runners it
is handed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converter.core import external_data
from converter.core.errors import GraphtoolError, first_line
from converter.core.frameworks import console_to_stderr, require
from converter.core.onnx_utils import graph_inputs

__all__ = ["Run", "Runner", "cuda_available", "providers_for", "ort_runner", "reference_runner", "torch_runner"]

Run = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class Runner:
    """Computes a model's outputs (in graph-output order) from named inputs; named and placed for reports.

    Every way graphtool runs a model is one of these, built by the functions below; calling it runs it.
    """

    name: str
    device: str
    run: Run

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.run(feeds)


def cuda_available() -> bool:
    """Whether onnxruntime here has a CUDA execution provider."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def providers_for(device: str) -> list:
    """onnxruntime providers for a device; on CUDA, TF32 is off (it costs ~1e-3 of accuracy on Ampere+)."""
    if device == "cuda":
        return [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def ort_runner(
    model: onnx.ModelProto, device: str = "cpu", threads: int | None = None, folder: Path | None = None
) -> Runner:
    """onnxruntime on `device` ('cpu' or 'cuda'), with `threads` intra-op threads (onnxruntime's default: all).

    External weights are read from `folder` (default: the block's external_data.weights_at folder).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    folder = folder or external_data.weights_folder()
    shared: list[Any] = []  # memory-mapped weights and their OrtValues, alive as long as the session
    if folder is not None and external_data.uses_external_data(model):
        options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(folder))
        with external_data.weights_at(folder):
            shared = _share_external_initializers(model, options, ort)
    if threads is not None:
        options.intra_op_num_threads = threads
    if device == "cuda" and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA and cuDNN from their pip packages, where LD_LIBRARY_PATH does not name them
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=providers_for(device))
    except Exception as error:  # onnxruntime's own exception types, for graphs it cannot load
        raise GraphtoolError(f"onnxruntime cannot load the model: {first_line(error)}") from error
    if device == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        raise GraphtoolError("onnxruntime fell back to the CPU: its CUDA provider could not load CUDA or cuDNN; "
                             "check that onnxruntime-gpu matches the installed CUDA version")
    wanted = [i.name for i in session.get_inputs()]

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        shared  # noqa: B018 - the closure keeps the memory-mapped weights alive with the session
        return session.run(None, {name: feeds[name] for name in wanted})

    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    return Runner(f"onnxruntime {provider}", device, run)


def _share_external_initializers(model: onnx.ModelProto, options: Any, ort: Any) -> list[Any]:
    """Hand onnxruntime the main graph's external initializers as memory-mapped arrays, so it uses the
    mapped pages instead of reading each into a buffer of its own (SessionOptions.add_initializer: the
    caller owns the memory and onnxruntime does not copy it). Pre-packing is turned off then, as it would
    copy each packed weight anyway. Returns what must stay alive as long as the session."""
    shared: list[Any] = []
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        try:
            array = external_data.tensor_array(tensor)
            value = ort.OrtValue.ortvalue_from_numpy(array)
        except Exception:  # an element type onnxruntime's numpy bridge lacks: onnxruntime reads it itself
            continue
        options.add_initializer(tensor.name, value)
        shared += (array, value)
    if shared:
        options.add_session_config_entry("session.disable_prepacking", "1")
    return shared


def reference_runner(model: onnx.ModelProto) -> Runner:
    """onnx's reference evaluator: a second, independent implementation of the ONNX op semantics."""
    from onnx.reference import ReferenceEvaluator

    folder = external_data.weights_folder()
    if folder is not None and external_data.uses_external_data(model):
        inline = onnx.ModelProto()
        inline.CopyFrom(model)
        onnx.load_external_data_for_model(inline, str(folder))  # the evaluator reads initializers inline
        model = inline
    evaluator = ReferenceEvaluator(model)
    wanted = [value.name for value in graph_inputs(model.graph)]

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(evaluator.run(None, {name: feeds[name] for name in wanted}))

    return Runner("onnx ReferenceEvaluator", "cpu", run)


def torch_runner(module: Any, input_names: Sequence[str], name: str = "torch") -> Runner:
    """A torch module called with the inputs in order; nested outputs (tuples, dicts) flattened in order."""
    torch = require("torch", "torch")

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in input_names]
        with torch.no_grad(), console_to_stderr():  # the model's own prints stay off stdout
            result = module(*args)
        return [t.detach().cpu().numpy() for t in _leaves(result)]

    return Runner(name, "cpu", run)


def _leaves(value: Any) -> Iterator[Any]:
    """The tensors of a module's result in order: dict values, tuple and list items, Nones left out."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value
