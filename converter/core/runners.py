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
from converter.core.onnx_utils import default_opset, graph_inputs, iter_graphs

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
    halves = {i.name for i in session.get_inputs() if i.type == "tensor(float16)"}  # float16 I/O: cast float feeds

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        shared  # noqa: B018 - the closure keeps the memory-mapped weights alive with the session
        return session.run(None, {name: feeds[name].astype(np.float16) if name in halves else feeds[name]
                                  for name in wanted})

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
    evaluator = ReferenceEvaluator(_evaluable(model))
    wanted = [value.name for value in graph_inputs(model.graph)]

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(evaluator.run(None, {name: feeds[name] for name in wanted}))

    return Runner("onnx ReferenceEvaluator", "cpu", run)


# The domains onnx's reference evaluator implements; a model's own functions run in any domain.
_EVALUATED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})
_QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
# The evaluator implements QuantizeLinear and DequantizeLinear from this opset only
_EVALUATED_QDQ_OPSET = 19
_QDQ_TARGET_OPSET = 21


def _evaluable(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` as the reference evaluator can run it: QDQ below opset 19 converted to opset 21; a one-line
    GraphtoolError for ops of domains it does not implement (onnxruntime's com.microsoft QLinear* ops)."""
    functions = {(f.domain, f.name) for f in model.functions}
    nodes = [node for graph in iter_graphs(model.graph) for node in graph.node]
    foreign: dict[str, set[str]] = {}
    for node in nodes:
        if node.domain not in _EVALUATED_DOMAINS and (node.domain, node.op_type) not in functions:
            foreign.setdefault(node.domain, set()).add(node.op_type)
    if foreign:
        ops = "; ".join(f"{domain}: {', '.join(sorted(types))}" for domain, types in sorted(foreign.items()))
        raise GraphtoolError(f"onnx's reference evaluator cannot run the model's onnxruntime-only ops ({ops}); "
                             "validate it against the float model it was made from (--against FLOAT.onnx, or the "
                             "original model)")
    opset = default_opset(model)
    if opset >= _EVALUATED_QDQ_OPSET or not any(n.op_type in _QDQ_OPS and n.domain in ("", "ai.onnx") for n in nodes):
        return model
    try:
        from onnx import version_converter

        return version_converter.convert_version(model, _QDQ_TARGET_OPSET)
    except Exception as error:  # the converter's own errors, for ops it has no adapter for
        raise GraphtoolError(f"onnx's reference evaluator runs QuantizeLinear/DequantizeLinear from opset "
                             f"{_EVALUATED_QDQ_OPSET} only, and converting the model from opset {opset} failed: "
                             f"{first_line(error)}; validate it against the float model it was made from "
                             "(--against FLOAT.onnx)") from error


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
