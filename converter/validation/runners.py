"""Things that run a model on named numpy inputs: onnxruntime on a device, onnx's reference evaluator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from converter.errors import GraphtoolError

__all__ = ["Runner", "cuda_available", "ort_runner", "reference_runner", "with_outputs", "providers_for"]

Run = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class Runner:
    """A way to compute a model's outputs (in graph-output order), and what it is, for reports."""

    name: str
    device: str
    run: Run


def cuda_available() -> bool:
    """Whether onnxruntime here has a CUDA execution provider."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def providers_for(device: str) -> list:
    """onnxruntime providers for a device; on CUDA, TF32 is off (it costs ~1e-3 of accuracy on Ampere+)."""
    if device == "cuda":
        return [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def ort_runner(model: onnx.ModelProto, device: str = "cpu") -> Runner:
    """onnxruntime on `device` ('cpu' or 'cuda')."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if device == "cuda" and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA and cuDNN from their pip packages, where LD_LIBRARY_PATH does not name them
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=providers_for(device))
    except Exception as error:  # onnxruntime's own exception types, for graphs it cannot load
        raise GraphtoolError(f"onnxruntime cannot load the model: {_short(error)}") from None
    if device == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        raise GraphtoolError("onnxruntime fell back to the CPU: its CUDA provider could not load CUDA or cuDNN; "
                             "check that onnxruntime-gpu matches the installed CUDA version")
    wanted = [i.name for i in session.get_inputs()]

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return session.run(None, {name: feeds[name] for name in wanted})

    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    return Runner(f"onnxruntime {provider}", device, run)


def reference_runner(model: onnx.ModelProto) -> Runner:
    """onnx's reference evaluator: a second, independent implementation of the ONNX op semantics."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model)
    wanted = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(evaluator.run(None, {name: feeds[name] for name in wanted}))

    return Runner("onnx ReferenceEvaluator", "cpu", run)


def with_outputs(model: onnx.ModelProto, tensors: Sequence[str]) -> onnx.ModelProto:
    """A copy of the model computing only `tensors` (intermediates exposed for --locate): nodes they need."""
    needed = set(tensors)
    kept = []
    for node in reversed(model.graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(_reads(node))
    graph = onnx.helper.make_graph(
        list(reversed(kept)), model.graph.name,
        [value for value in model.graph.input if value.name in needed],
        [onnx.helper.make_empty_tensor_value_info(name) for name in tensors],
        [tensor for tensor in model.graph.initializer if tensor.name in needed],
    )
    copy = onnx.helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    copy.functions.extend(model.functions)
    return copy


def _reads(node: onnx.NodeProto) -> set[str]:
    """Every tensor a node reads, including outer-scope names its subgraphs use."""
    names = {name for name in node.input if name}
    for attribute in node.attribute:
        graphs = [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)
        for graph in graphs:
            for inner in graph.node:
                names |= _reads(inner)
    return names


def _short(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]
