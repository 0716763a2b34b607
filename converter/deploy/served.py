"""A served model: one artifact loaded in its own runtime, with `predict(inputs) -> outputs` on numpy arrays.

The artifact runs through the Runner its target brings (converter.targets.runners, converter.core.runners):
a served model is a Runner plus the interface and the request checks a server needs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.core.errors import GraphtoolError, first_line
from converter.core.runners import Runner
from converter.deploy.errors import BadRequest
from converter.deploy.interface import Interface, TensorSpec, wire_dtype

__all__ = ["ServedModel", "load_served", "artifact_format", "INTERFACE_FILE"]

INTERFACE_FILE = "interface.json"  # written beside torch artifacts, whose files do not carry names and dtypes


@dataclass(frozen=True)
class ServedModel:
    """A loaded artifact: its interface, the runtime that runs it (a Runner), and a checked predict."""

    name: str
    version: int
    path: Path
    runtime: str
    interface: Interface
    runner: Runner

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check names, dtypes and shapes, then run; a bad input is a BadRequest, never a server error."""
        feeds = self.check(inputs)
        try:
            results = self.runner(feeds)
        except Exception as error:  # the runtime refused this input (a dim it cannot take): the client's to fix
            raise BadRequest(f"the model rejected the input: {first_line(error, 200)}") from error
        return {spec.name: _widened(np.asarray(r)) for spec, r in zip(self.interface.outputs, results, strict=True)}

    def check(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The inputs cast to the model's dtypes, or a BadRequest naming what is wrong and what is expected."""
        expected = [s.name for s in self.interface.inputs]
        unknown = sorted(set(inputs) - set(expected))
        missing = [n for n in expected if n not in inputs]
        if unknown or missing:
            what = f"unknown input '{unknown[0]}'" if unknown else f"missing input '{missing[0]}'"
            raise BadRequest(f"{what}; the model takes {', '.join(expected)}")
        return {spec.name: _cast(spec, inputs[spec.name]) for spec in self.interface.inputs}


def _widened(array: np.ndarray) -> np.ndarray:
    return array.astype(wire_dtype(array.dtype.name), copy=False)


def _cast(spec: TensorSpec, value) -> np.ndarray:
    """The value in the dtype it travels in (wire_dtype: the runner casts a float feed to the model's own)."""
    dtype = wire_dtype(spec.dtype)
    try:
        array = np.asarray(value)
        if array.dtype == object or (array.dtype.kind in "US" and spec.dtype != "object"):
            raise ValueError("not numbers")
        if array.dtype.kind == "f" and np.dtype(dtype).kind in "iub" and not np.all(np.mod(array, 1) == 0):
            raise ValueError("fractional values")
        array = array.astype(dtype, copy=False)
    except (ValueError, TypeError, OverflowError) as error:
        raise BadRequest(f"input '{spec.name}': expected {spec.dtype} values of shape {list(spec.shape)}") from error
    if not spec.accepts(array.shape):
        raise BadRequest(f"input '{spec.name}': shape {list(array.shape)} does not fit {list(spec.shape)} "
                         "(-1: any size)")
    return np.ascontiguousarray(array)


def artifact_format(path: Path) -> str:
    """onnx, savedmodel, pt2 or torchscript, from the artifact's name and contents."""
    if path.is_dir() and (path / "saved_model.pb").exists():
        return "savedmodel"
    suffixes = {".onnx": "onnx", ".pt2": "pt2", ".ts": "torchscript", ".pt": "torchscript"}
    if path.is_file() and path.suffix in suffixes:
        return suffixes[path.suffix]
    raise GraphtoolError(f"{path}: not a servable artifact; expected a .onnx, .pt2 or .ts file or a SavedModel "
                         "folder (or a folder `graphtool package` wrote)")


def load_served(path: Path, name: str, version: int = 1, interface: Interface | None = None,
                trust_code: bool = False) -> ServedModel:
    """Load an artifact in its own runtime: ONNX in onnxruntime, SavedModel in TensorFlow, pt2/TorchScript in torch.

    Its graph is audited first, as every command's is: one that does more than compute is refused unless
    `trust_code`.
    """
    kind = artifact_format(path)
    loader = _LOADERS[kind]
    if not trust_code:
        from converter.sources.audit.dispatch import audit_file
        from converter.sources.audit.findings import enforce

        enforce(audit_file(path), trust_code=False)
    try:
        runtime, found, runner = loader(path, interface)
    except GraphtoolError:
        raise
    except Exception as error:  # a corrupt or foreign artifact
        raise GraphtoolError(f"{path}: cannot load it as {kind}: {first_line(error)}") from error
    return ServedModel(name, version, path, runtime, found, runner)


def _load_onnx(path: Path, interface: Interface | None):
    import onnx

    from converter.core.onnx_utils import dtype_name, graph_inputs, shape_of
    from converter.core.output_names import source_outputs
    from converter.core.runners import ort_runner

    model = onnx.load(str(path))

    def spec(name: str, value: onnx.ValueInfoProto) -> TensorSpec:
        dtype, dims = shape_of(value.type)
        dtype = "object" if value.type.tensor_type.elem_type == onnx.TensorProto.STRING else dtype
        return TensorSpec(name, dtype or dtype_name(onnx.TensorProto.FLOAT),
                          tuple(d if isinstance(d, int) else -1 for d in dims or ()))

    # outputs are served by their source names (an output named like an input is suffixed only inside the ONNX)
    found = Interface(tuple(spec(v.name, v) for v in graph_inputs(model.graph)),
                      tuple(spec(name, v) for name, v in source_outputs(model).items()))
    return "onnxruntime", found, ort_runner(model)


def _load_savedmodel(path: Path, interface: Interface | None):
    import tensorflow as tf

    from converter.targets.runners import savedmodel_runner

    saved = tf.saved_model.load(str(path))
    recorded = path / "assets.extra" / INTERFACE_FILE
    interface = interface or (Interface.read(recorded) if recorded.exists() else None)
    signature = saved.signatures.get("serving_default")
    if signature is None:
        raise GraphtoolError(f"{path}: the SavedModel has no 'serving_default' signature, which TF Serving calls")
    _, keywords = signature.structured_input_signature
    outputs = signature.structured_outputs

    def spec(name: str, tensor) -> TensorSpec:
        return TensorSpec(name, tensor.dtype.as_numpy_dtype().dtype.name if tensor.dtype != tf.string else "object",
                          tuple(-1 if d is None else int(d) for d in tensor.shape))

    # the signature's order is alphabetical; the interface file (if any) keeps the model's own order
    order = interface or Interface(tuple(spec(k, v) for k, v in sorted(keywords.items())),
                                   tuple(spec(k, v) for k, v in sorted(outputs.items())))
    found = Interface(tuple(spec(s.name, keywords[s.name]) for s in order.inputs),
                      tuple(spec(s.name, outputs[s.name]) for s in order.outputs))
    runner = savedmodel_runner(path, {s.name: s.name for s in found.inputs}, {s.name: s.name for s in found.outputs},
                               loaded=saved)
    return "tensorflow", found, runner


def _load_torch(path: Path, interface: Interface | None):
    from converter.targets.runners import pt2_runner, torchscript_runner

    interface = interface or _interface_beside(path)
    names = [s.name for s in interface.inputs]
    if path.suffix == ".pt2":
        runner, runtime = pt2_runner(path, names), "torch.export"
    else:
        runner, runtime = torchscript_runner(path, names), "torchscript"
    lock = threading.Lock()  # torch.export modules are not documented as thread-safe: one request at a time

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with lock:
            return runner(feeds)

    return runtime, interface, Runner(runner.name, runner.device, run)


def _interface_beside(path: Path) -> Interface:
    for candidate in (path.parent / INTERFACE_FILE, path.with_name(path.name + "." + INTERFACE_FILE)):
        if candidate.exists():
            return Interface.read(candidate)
    raise GraphtoolError(f"{path}: a torch artifact does not record its tensor names and dtypes; serve the folder "
                         "`graphtool package` wrote (it has interface.json) instead")


_LOADERS = {"onnx": _load_onnx, "savedmodel": _load_savedmodel, "pt2": _load_torch, "torchscript": _load_torch}
