"""The one dispatcher from anything graphtool loads to a normalized model."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import onnx

from converter.core import external_data
from converter.core.deadline import deadline
from converter.core.errors import GraphtoolError
from converter.core.frameworks import class_names, listen, quiet
from converter.core.runners import Runner, ort_runner
from converter.core.types import LoadedModel, LoadOptions, Reference
from converter.sources import keras_structure, pyref
from converter.sources.formats import FRAMEWORK, Format, detect
from converter.sources.onnx import load_onnx, load_proto, read_onnx

__all__ = ["load", "open_reference"]


def load(source: str | Path | Any, options: LoadOptions | None = None, **fields: Any) -> LoadedModel:
    """Load a model file, Python reference or in-memory model and normalize it to ONNX.

    Options come as a LoadOptions or as its fields: load("m.pt", input_specs=["x:batch,8"], trace="auto").
    """
    options = replace(options or LoadOptions(), **fields)
    with deadline(options.timeout, f"loading {_describe(source)}"), listen() as heard:
        loaded = _load(source, options)
        if loaded.source.framework != "onnx":  # load_proto already moved an ONNX model's weights out
            loaded = _weights_outside(loaded)
    new = tuple(note for note in heard if note not in loaded.source.notes)
    if new:
        loaded.source = replace(loaded.source, notes=(*loaded.source.notes, *new))
    return loaded


def _weights_outside(loaded: LoadedModel) -> LoadedModel:
    """Past the external-data threshold, move weights a source kept inline to a scratch folder."""
    if loaded.weights_dir is None and external_data.weight_bytes(loaded.model) > external_data.threshold():
        folder = external_data.scratch_folder()
        external_data.externalize(loaded.model, folder)
        loaded.weights_dir = folder
        external_data.release_with(loaded, folder)
    return loaded


def _describe(source: Any) -> str:
    return str(source) if isinstance(source, (str, Path)) else type(source).__name__


@dataclass(frozen=True)
class _Finish:
    """What loading ends with, per kind of source: a normalized LoadedModel, or only the source's Runner."""

    onnx_file: Callable[[str, LoadOptions], Any]
    onnx_proto: Callable[[onnx.ModelProto, str, LoadOptions], Any]
    torch: Callable[..., Any]  # (TorchModel, Format, origin, options)
    tf: Callable[..., Any]  # (TfFunction, Format, origin, options)


def _torch(name: str) -> Callable[..., Any]:
    def finish(*args: Any) -> Any:
        from converter.sources import torch

        return getattr(torch, name)(*args)

    return finish


def _tf(name: str) -> Callable[..., Any]:
    def finish(*args: Any) -> Any:
        from converter.sources import tf

        return getattr(tf, name)(*args)

    return finish


def _onnx_reference(path: str, options: LoadOptions) -> Runner:
    return _proto_reference(read_onnx(Path(path)), path, options, Path(path).parent)


def _proto_reference(model: onnx.ModelProto, origin: str, options: LoadOptions, folder: Path | None = None) -> Runner:
    return ort_runner(model, folder=folder)


_NORMALIZED = _Finish(load_onnx, load_proto, _torch("load_torch"), _tf("load_tf"))
_REFERENCE = _Finish(_onnx_reference, _proto_reference, _torch("torch_reference"), _tf("tf_reference"))


def open_reference(source: str | Path | Any, options: LoadOptions | None = None) -> Reference:
    """The source as its own framework runs it, read as `load` reads it but neither traced nor normalized.

    What `graphtool bench` times as the source: eager PyTorch, Keras or a SavedModel's function, onnxruntime
    for an ONNX file.
    """
    options = options or LoadOptions()
    with deadline(options.timeout, f"loading {_describe(source)}"):
        return _load(source, options, _REFERENCE)


def _load(source: str | Path | Any, options: LoadOptions, finish: _Finish = _NORMALIZED) -> Any:
    if isinstance(source, onnx.ModelProto):
        return finish.onnx_proto(source, "<memory>", options)
    if not isinstance(source, (str, Path)):
        return _load_object(source, "<memory>", options, finish)
    detected = detect(str(source), options.source_format)
    location = detected.location
    if detected.format is Format.ONNX:
        return finish.onnx_file(location, options)
    if detected.format is Format.PYTHON:
        with quiet():  # the user's module may import TensorFlow or transformers, which log as they start
            obj = pyref.resolve(location)
        return _load_object(obj, location, options, finish)
    if FRAMEWORK[detected.format] == "torch":
        from converter.sources import torch

        return finish.torch(torch.read_torch(detected.format, location, options), detected.format, location, options)
    from converter.sources import tf

    model = tf.read_tf(detected.format, location, options.signature, options.trust_code, options.custom_objects)
    return finish.tf(model, detected.format, location, options)


def _load_object(obj: Any, origin: str, options: LoadOptions, finish: _Finish) -> Any:
    if inspect.isfunction(obj) or inspect.isclass(obj):
        obj = _call_factory(obj, origin)
    names = class_names(obj[0] if isinstance(obj, tuple) and obj else obj)
    if any(n.startswith("torch.") for n in names):
        from converter.sources import torch

        return finish.torch(torch.from_object(obj, origin), Format.TORCH_PYTHON, origin, options)
    if any(n.startswith(("tensorflow.", "keras.", "tf_keras.")) for n in names):
        from converter.sources import tf

        return finish.tf(tf.from_object(obj, origin), Format.TF_PYTHON, origin, options)
    if isinstance(obj, onnx.ModelProto):
        return finish.onnx_proto(obj, origin, options)
    raise GraphtoolError(
        f"{origin}: returned a {type(obj).__name__}; expected a torch.nn.Module, (module, example inputs), "
        "keras.Model, tf.Module or tf.function"
    )


def _call_factory(factory: Any, origin: str) -> Any:
    try:
        with quiet():
            return factory()
    except Exception as error:  # the user's own code failed: say where, not how graphtool got there
        keras_failure = keras_structure.call_error(error)
        if keras_failure is not None:
            raise GraphtoolError(f"{origin}: calling it failed: {keras_failure}") from error
        raise GraphtoolError(f"{origin}: calling it failed: {type(error).__name__}: {error}") from error
