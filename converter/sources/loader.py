"""The one dispatcher from anything graphtool loads to a normalized model."""

from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path
from typing import Any

import onnx

from converter.core import external_data
from converter.core.deadline import deadline
from converter.core.errors import GraphtoolError
from converter.core.frameworks import class_names, listen, quiet
from converter.core.types import LoadedModel, LoadOptions
from converter.sources import pyref
from converter.sources.formats import FRAMEWORK, Format, detect
from converter.sources.onnx import load_onnx, load_proto

__all__ = ["load"]


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


def _load(source: str | Path | Any, options: LoadOptions) -> LoadedModel:
    if isinstance(source, onnx.ModelProto):
        return load_proto(source, "<memory>", options)
    if not isinstance(source, (str, Path)):
        return _load_object(source, "<memory>", options)
    detected = detect(str(source), options.source_format)
    location = detected.location
    if detected.format is Format.ONNX:
        return load_onnx(location, options)
    if detected.format is Format.PYTHON:
        with quiet():  # the user's module may import TensorFlow or transformers, which log as they start
            obj = pyref.resolve(location)
        return _load_object(obj, location, options)
    if FRAMEWORK[detected.format] == "torch":
        from converter.sources import torch

        return torch.load_torch(torch.read_torch(detected.format, location, options), detected.format, location,
                                options)
    from converter.sources import tf

    model = tf.read_tf(detected.format, location, options.signature, options.trust_code, options.custom_objects)
    return tf.load_tf(model, detected.format, location, options)


def _load_object(obj: Any, origin: str, options: LoadOptions) -> LoadedModel:
    if inspect.isfunction(obj) or inspect.isclass(obj):
        obj = _call_factory(obj, origin)
    names = class_names(obj[0] if isinstance(obj, tuple) and obj else obj)
    if any(n.startswith("torch.") for n in names):
        from converter.sources import torch

        return torch.load_torch(torch.from_object(obj, origin), Format.TORCH_PYTHON, origin, options)
    if any(n.startswith(("tensorflow.", "keras.", "tf_keras.")) for n in names):
        from converter.sources import tf

        return tf.load_tf(tf.from_object(obj, origin), Format.TF_PYTHON, origin, options)
    if isinstance(obj, onnx.ModelProto):
        return load_proto(obj, origin, options)
    raise GraphtoolError(
        f"{origin}: returned a {type(obj).__name__}; expected a torch.nn.Module, (module, example inputs), "
        "keras.Model, tf.Module or tf.function"
    )


def _call_factory(factory: Any, origin: str) -> Any:
    try:
        with quiet():
            return factory()
    except Exception as error:  # the user's own code failed: say where, not how graphtool got there
        raise GraphtoolError(f"{origin}: calling it failed: {type(error).__name__}: {error}") from error
