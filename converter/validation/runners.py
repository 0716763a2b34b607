"""Everything that runs a model on named numpy inputs: ONNX runtimes, written artifacts, source frameworks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converter import external_data
from converter.errors import GraphtoolError, first_line
from converter.onnx_utils import graph_inputs, iter_nodes, subgraphs_of

__all__ = [
    "Runner",
    "cuda_available",
    "providers_for",
    "ort_runner",
    "reference_runner",
    "savedmodel_runner",
    "tflite_runner",
    "run_tflite",
    "torch_runner",
    "pt2_runner",
    "torchscript_runner",
    "tf_function_runner",
    "with_outputs",
]

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
        raise GraphtoolError(f"onnxruntime cannot load the model: {first_line(error)}") from None
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


def savedmodel_runner(
    path: str | Path, inputs: Mapping[str, str], outputs: Mapping[str, str], loaded: Any = None
) -> Runner:
    """A SavedModel's serving_default signature; `inputs`/`outputs` map graph names to signature keys, in order.

    `loaded`: the SavedModel already loaded from `path` (tf.saved_model.load), so it is not loaded twice.
    """
    from converter.targets.savedmodel import SIGNATURE_KEY

    tf = _require("tensorflow", "tf")
    saved = loaded if loaded is not None else tf.saved_model.load(str(path))  # the closure holds it
    serving = saved.signatures[SIGNATURE_KEY]

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = serving(**{key: tf.constant(feeds[name]) for name, key in inputs.items()})
        return [np.asarray(results[key]) for key in outputs.values()]

    return Runner("tensorflow SavedModel", "cpu", run)


def run_tflite(path: str | Path, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the serving_default signature of a .tflite file on named inputs (signature names)."""
    from converter.sources.common import quiet
    from converter.targets.savedmodel import SIGNATURE_KEY

    tf = _require("tensorflow", "tf")
    with quiet():  # the Interpreter's deprecation warning and "Created TensorFlow Lite XNNPACK delegate"
        interpreter = tf.lite.Interpreter(model_path=str(path))
        runner = interpreter.get_signature_runner(SIGNATURE_KEY)
        results = runner(**inputs)
    return {name: np.asarray(value) for name, value in results.items()}


def tflite_runner(path: str | Path, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> Runner:
    """TensorFlow's TFLite interpreter on a .tflite file; the mappings as for savedmodel_runner."""

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = run_tflite(path, {key: feeds[name] for name, key in inputs.items()})
        return [results[key] for key in outputs.values()]

    return Runner("TFLite interpreter", "cpu", run)


def torch_runner(module: Any, input_names: Sequence[str], name: str = "torch") -> Runner:
    """A torch module called with the inputs in order; nested outputs (tuples, dicts) flattened in order."""
    torch = _require("torch", "torch")

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in input_names]
        with torch.no_grad(), _console_to_stderr():  # the model's own prints stay off stdout
            result = module(*args)
        return [t.detach().cpu().numpy() for t in _leaves(result)]

    return Runner(name, "cpu", run)


def pt2_runner(path: str | Path, input_names: Sequence[str]) -> Runner:
    """A saved ExportedProgram, as `torch.export.load(path).module()` runs it (a dict by output name: in its order)."""
    import torch

    return torch_runner(torch.export.load(str(path)).module(), input_names, "torch.export program")


def torchscript_runner(path: str | Path, input_names: Sequence[str]) -> Runner:
    """A saved TorchScript module, as `torch.jit.load(path)` runs it."""
    import torch

    return torch_runner(torch.jit.load(str(path), map_location="cpu"), input_names, "TorchScript module")


def tf_function_runner(call: Any, input_names: Sequence[str], name: str = "tensorflow") -> Runner:
    """A TensorFlow callable (concrete function, Keras model) with the inputs in order; outputs tf.nest-flattened."""
    tf = _require("tensorflow", "tf")

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with _console_to_stderr():  # the model's own prints (tf.print) stay off stdout
            result = call(*[tf.constant(feeds[n]) for n in input_names])
        return [np.asarray(t) for t in tf.nest.flatten(result)]

    return Runner(name, "cpu", run)


def _require(module: str, extra: str) -> Any:
    """Import a framework on first use, or name the graphtool extra that installs it."""
    from converter.sources.common import require

    return require(module, extra)


def _console_to_stderr() -> Any:
    from converter.sources.common import console_to_stderr

    return console_to_stderr()


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
        for graph in subgraphs_of(attribute):
            names.update(name for inner in iter_nodes(graph) for name in inner.input if name)
    return names
