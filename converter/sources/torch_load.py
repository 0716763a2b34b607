"""Read PyTorch artifacts into a module, without running code the user did not trust."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from converter import pyref
from converter.errors import GraphtoolError
from converter.formats import Format
from converter.inputs import InputSpec
from converter.sources.base import LoadOptions
from converter.sources.common import first_line, require

__all__ = ["TorchModel", "read_torch", "from_object", "input_names"]

_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


@dataclass
class TorchModel:
    """A module ready to trace, with what its artifact declares about its inputs."""

    module: Any
    declared: list[InputSpec]
    example: tuple | None = None  # example input tensors, when the artifact or factory gives them
    exported: Any = None  # the ExportedProgram, for .pt2 files


def read_torch(fmt: Format, path: str, options: LoadOptions) -> TorchModel:
    """Load a TorchScript archive, an ExportedProgram, or a torch.save file."""
    torch = require("torch", "torch")
    if fmt is Format.TORCHSCRIPT:
        try:
            module = torch.jit.load(path, map_location="cpu")
        except Exception as error:
            raise GraphtoolError(f"{path}: not a loadable TorchScript archive ({first_line(error)})") from None
        return TorchModel(module.eval(), [])
    if fmt is Format.EXPORTED_PROGRAM:
        try:
            program = torch.export.load(path)
        except Exception as error:
            raise GraphtoolError(f"{path}: not a loadable ExportedProgram ({first_line(error)})") from None
        return _from_exported(program)
    return _read_pickle(path, options)


def from_object(obj: Any, origin: str) -> TorchModel:
    """An nn.Module, or a (module, example inputs) tuple, as returned by a user's factory."""
    torch = require("torch", "torch")
    example = None
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], torch.nn.Module):
        obj, example = obj
        example = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    if isinstance(obj, torch.export.ExportedProgram):
        return _from_exported(obj)
    if not isinstance(obj, torch.nn.Module):
        raise GraphtoolError(f"{origin}: expected an nn.Module or (module, example inputs), got {type(obj).__name__}")
    declared = []
    if example is not None:
        names = input_names(obj, len(example))
        declared = [_spec_of(name, tensor) for name, tensor in zip(names, example, strict=False)]
    return TorchModel(obj.eval(), declared, example)


def input_names(module: Any, count: int | None = None) -> list[str]:
    """forward()'s argument names (positional ones, without self)."""
    torch = require("torch", "torch")
    if isinstance(module, torch.jit.ScriptModule):
        names = [a.name for a in module.forward.schema.arguments[1:]]
    else:
        try:
            parameters = inspect.signature(module.forward).parameters.values()
        except (TypeError, ValueError):
            return [f"input_{i}" for i in range(count or 0)]
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        names = [p.name for p in parameters if p.kind in kinds]
    if count is not None and len(names) < count:
        names += [f"input_{i}" for i in range(len(names), count)]
    return names[:count] if count is not None else names


def _from_exported(program: Any) -> TorchModel:
    names = list(program.graph_signature.user_inputs)
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    declared = []
    symbols: dict[str, str] = {}  # torch's s0, s1... -> readable names, shared where torch shares them
    for name in names:
        value = placeholders[name].meta.get("val")
        if value is not None and hasattr(value, "shape"):
            dims = tuple(
                int(d) if str(d).isdigit() else symbols.setdefault(str(d), _dim_name(name, axis))
                for axis, d in enumerate(value.shape)
            )
            declared.append(InputSpec(name, dims, str(value.dtype).removeprefix("torch.")))
    example = None
    if program.example_inputs is not None:
        args, _ = program.example_inputs
        example = tuple(args)
    return TorchModel(program.module(), declared, example, exported=program)


def _dim_name(input_name: str, axis: int) -> str:
    return "batch" if axis == 0 else f"{input_name}_dim{axis}"


def _read_pickle(path: str, options: LoadOptions) -> TorchModel:
    torch = require("torch", "torch")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        if "Weights only load failed" not in str(error):
            raise GraphtoolError(f"{path}: not a loadable torch.save file ({first_line(error)})") from None
        obj = _trusted_pickle(path, options)
    if isinstance(obj, torch.nn.Module):
        return from_object(obj, path)
    state = _state_dict_in(obj, torch)
    if state is None:
        raise GraphtoolError(f"{path}: holds a {type(obj).__name__}, neither a module nor a state_dict")
    if not options.model_class:
        raise GraphtoolError(
            f"{path}: a state_dict ({len(state)} tensors) holds weights only; pass --model-class file.py:Class "
            "or package.module:Class to say which module they belong to"
        )
    return from_object(_instantiate(options.model_class, state, path), path)


def _trusted_pickle(path: str, options: LoadOptions) -> Any:
    if not options.trust_pickle:
        raise GraphtoolError(
            f"{path}: a pickled object (e.g. a whole module saved with torch.save(model)); unpickling it "
            "would run code from the file. Pass --trust-pickle only if you trust its source, or save a "
            "state_dict, TorchScript or ExportedProgram instead"
        )
    torch = require("torch", "torch")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as error:
        raise GraphtoolError(
            f"{path}: unpickling needs the module '{error.name}' that defines the model's class; "
            "add its folder to PYTHONPATH"
        ) from None
    except Exception as error:
        raise GraphtoolError(f"{path}: unpickling failed ({first_line(error)})") from None


def _state_dict_in(obj: Any, torch: Any) -> Mapping | None:
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, Mapping):
        for key in _CHECKPOINT_KEYS:
            if key in obj:
                return _state_dict_in(obj[key], torch)
    return None


def _instantiate(reference: str, state: Mapping, path: str) -> Any:
    cls = pyref.resolve(reference)
    try:
        module = cls()
    except Exception as error:
        raise GraphtoolError(f"--model-class {reference}: cannot construct it without arguments ({error})") from None
    try:
        module.load_state_dict(state, strict=True)
    except Exception as error:
        raise GraphtoolError(f"{path}: its state_dict does not fit {reference}: {first_line(error)}") from None
    return module


def _spec_of(name: str, tensor: Any) -> InputSpec:
    return InputSpec(name, tuple(int(d) for d in tensor.shape), str(tensor.dtype).removeprefix("torch."))

