"""A served model: one artifact loaded in its own runtime, with `predict(inputs) -> outputs` on numpy arrays."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.deploy.errors import BadRequest
from converter.deploy.interface import Interface, TensorSpec
from converter.errors import GraphtoolError, first_line

__all__ = ["ServedModel", "load_served", "artifact_format", "INTERFACE_FILE"]

INTERFACE_FILE = "interface.json"  # written beside torch artifacts, whose files do not carry names and dtypes
Run = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class ServedModel:
    """A loaded artifact: its interface, the runtime that runs it, and a checked predict."""

    name: str
    version: int
    path: Path
    runtime: str
    interface: Interface
    run: Run

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check names, dtypes and shapes, then run; a bad input is a BadRequest, never a server error."""
        feeds = self.check(inputs)
        try:
            results = self.run(feeds)
        except Exception as error:  # the runtime refused this input (a dim it cannot take): the client's to fix
            raise BadRequest(f"the model rejected the input: {first_line(error, 200)}") from None
        return {spec.name: np.asarray(r) for spec, r in zip(self.interface.outputs, results, strict=True)}

    def check(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The inputs cast to the model's dtypes, or a BadRequest naming what is wrong and what is expected."""
        expected = [s.name for s in self.interface.inputs]
        unknown = sorted(set(inputs) - set(expected))
        missing = [n for n in expected if n not in inputs]
        if unknown or missing:
            what = f"unknown input '{unknown[0]}'" if unknown else f"missing input '{missing[0]}'"
            raise BadRequest(f"{what}; the model takes {', '.join(expected)}")
        return {spec.name: _cast(spec, inputs[spec.name]) for spec in self.interface.inputs}


def _cast(spec: TensorSpec, value) -> np.ndarray:
    try:
        array = np.asarray(value)
        if array.dtype == object or (array.dtype.kind in "US" and spec.dtype != "object"):
            raise ValueError("not numbers")
        if array.dtype.kind == "f" and np.dtype(spec.dtype).kind in "iub" and not np.all(np.mod(array, 1) == 0):
            raise ValueError("fractional values")
        array = array.astype(spec.dtype, copy=False)
    except (ValueError, TypeError, OverflowError):
        raise BadRequest(f"input '{spec.name}': expected {spec.dtype} values of shape {list(spec.shape)}") from None
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


def load_served(path: Path, name: str, version: int = 1, interface: Interface | None = None) -> ServedModel:
    """Load an artifact in its own runtime: ONNX in onnxruntime, SavedModel in TensorFlow, pt2/TorchScript in torch."""
    kind = artifact_format(path)
    loader = _LOADERS[kind]
    try:
        runtime, found, run = loader(path, interface)
    except GraphtoolError:
        raise
    except Exception as error:  # a corrupt or foreign artifact
        raise GraphtoolError(f"{path}: cannot load it as {kind}: {first_line(error)}") from None
    return ServedModel(name, version, path, runtime, found, run)


def _load_onnx(path: Path, interface: Interface | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def spec(arg) -> TensorSpec:
        dtype = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
                 "tensor(bool)": "bool", "tensor(string)": "object"}.get(arg.type, arg.type[7:-1])
        return TensorSpec(arg.name, dtype, tuple(d if isinstance(d, int) else -1 for d in arg.shape))

    found = Interface(tuple(map(spec, session.get_inputs())), tuple(map(spec, session.get_outputs())))
    return "onnxruntime", found, lambda feeds: session.run(None, feeds)


def _load_savedmodel(path: Path, interface: Interface | None):
    import tensorflow as tf

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
    names = [s.name for s in found.outputs]

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = signature(**{k: tf.constant(v) for k, v in feeds.items()})
        return [results[n].numpy() for n in names]

    run.keep = saved  # type: ignore[attr-defined]  # the signature's variables live as long as `run`
    return "tensorflow", found, run


def _load_torch(path: Path, interface: Interface | None):
    import torch

    interface = interface or _interface_beside(path)
    if path.suffix == ".pt2":
        module, runtime = torch.export.load(str(path)).module(), "torch.export"
    else:
        module, runtime = torch.jit.load(str(path), map_location="cpu"), "torchscript"
    lock = threading.Lock()  # torch.export modules are not documented as thread-safe
    names = [s.name for s in interface.inputs]

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        args = [torch.from_numpy(feeds[n]) for n in names]
        with lock, torch.no_grad():
            result = module(*args)
        results = result if isinstance(result, (tuple, list)) else (result,)
        return [r.detach().cpu().numpy() for r in results]

    return runtime, interface, run


def _interface_beside(path: Path) -> Interface:
    for candidate in (path.parent / INTERFACE_FILE, path.with_name(path.name + "." + INTERFACE_FILE)):
        if candidate.exists():
            return Interface.read(candidate)
    raise GraphtoolError(f"{path}: a torch artifact does not record its tensor names and dtypes; serve the folder "
                         "`graphtool package` wrote (it has interface.json) instead")


_LOADERS = {"onnx": _load_onnx, "savedmodel": _load_savedmodel, "pt2": _load_torch, "torchscript": _load_torch}
