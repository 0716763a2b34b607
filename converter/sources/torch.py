"""PyTorch sources: read an artifact or a factory's module without running untrusted code, capture it as ONNX."""

from __future__ import annotations

import inspect
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converter import external_data
from converter.errors import GraphtoolError, first_line
from converter.onnx_utils import symbolic_dim_name
from converter.sources import pyref
from converter.sources.base import Attempt, LoadedModel, LoadOptions, Reference, SourceInfo
from converter.sources.common import quiet, require
from converter.sources.contents import NeedsInputsError, describe_module
from converter.sources.formats import Format
from converter.sources.inputs import InputSpec, example_inputs, given_specs, load_npz, match_arrays, merge_specs
from converter.sources.normalize import DEFAULT_OPSET, normalize

__all__ = [
    "STRATEGIES", "TorchModel", "Capture", "load_torch", "read_torch", "open_torchscript", "open_exported",
    "from_object", "input_names", "capture", "reference_for", "output_names",
]

_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
STRATEGIES = ("export", "torchscript", "fx")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NEXT = {"export": "--trace torchscript", "torchscript": "--trace fx", "fx": "--trace export"}


@dataclass
class TorchModel:
    """A module ready to trace, with what its artifact declares about its inputs."""

    module: Any
    declared: list[InputSpec]
    example: tuple | None = None  # example input tensors, when the artifact or factory gives them
    exported: Any = None  # the ExportedProgram, for .pt2 files
    audit_notes: tuple[str, ...] = ()  # what --trust-code let through (converter.sources.audit)


def read_torch(fmt: Format, path: str, options: LoadOptions) -> TorchModel:
    """Load a TorchScript archive, an ExportedProgram, or a torch.save file; graphs are audited before anything runs."""
    from converter.sources.audit import enforce
    from converter.sources.audit import torch as audit_torch

    if fmt is Format.TORCHSCRIPT:
        notes = enforce(audit_torch.audit_archive_code(path), options.trust_code)  # torch.jit.load runs it
        module = open_torchscript(path)
        notes += enforce(audit_torch.audit_script_module(module, path), options.trust_code)
        return TorchModel(module.eval(), [], audit_notes=notes)
    if fmt is Format.EXPORTED_PROGRAM:
        program = open_exported(path)
        notes = enforce(audit_torch.audit_exported(program, path), options.trust_code)
        return replace(_from_exported(program), audit_notes=notes)
    return _read_pickle(path, options)


def open_torchscript(path: str) -> Any:
    """torch.jit.load on the CPU: it deserializes the module and runs nothing but a __setstate__ (audit that first)."""
    torch = require("torch", "torch")
    try:
        with quiet():
            return torch.jit.load(path, map_location="cpu")
    except Exception as error:
        raise GraphtoolError(f"{path}: not a loadable TorchScript archive ({first_line(error)})") from None


def open_exported(path: str) -> Any:
    """torch.export.load: the program's graph, deserialized without running it."""
    torch = require("torch", "torch")
    try:
        with quiet():
            return torch.export.load(path)
    except Exception as error:
        raise GraphtoolError(f"{path}: not a loadable ExportedProgram ({first_line(error)})") from None


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
                int(d) if str(d).isdigit() else symbols.setdefault(str(d), symbolic_dim_name(name, axis))
                for axis, d in enumerate(value.shape)
            )
            declared.append(InputSpec(name, dims, str(value.dtype).removeprefix("torch.")))
    example = None
    if program.example_inputs is not None:
        args, _ = program.example_inputs
        example = tuple(args)
    return TorchModel(program.module(), declared, example, exported=program)


def _read_pickle(path: str, options: LoadOptions) -> TorchModel:
    torch = require("torch", "torch")
    try:
        with quiet():  # torch warns about pickle protocols on stderr
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


@dataclass(frozen=True)
class Capture:
    """The exported ONNX model, the strategy that produced it and every strategy tried."""

    model: onnx.ModelProto
    strategy: str
    attempts: tuple[Attempt, ...]


def capture(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, trace: str, origin: str,
    folder: Path | None = None,
) -> Capture:
    """Export with the requested strategy, or with each in order for 'auto'; weights into `folder` if given."""
    if trace not in (*STRATEGIES, "auto"):
        raise GraphtoolError(f"--trace {trace}: unknown; expected export, torchscript, fx or auto")
    torch = require("torch", "torch")
    order = list(STRATEGIES) if trace == "auto" else [trace]
    if isinstance(source.module, torch.jit.ScriptModule):
        if trace == "fx":
            raise GraphtoolError(f"{origin}: a TorchScript module cannot be FX-traced; use --trace torchscript")
        order = ["torchscript"]  # the only exporter that reads TorchScript
    attempts = []
    for strategy in order:
        try:
            with quiet():
                model = _EXPORTERS[strategy](source, specs, args, opset, folder)
        except GraphtoolError:
            raise
        except Exception as error:
            attempts.append(Attempt(strategy, _reason(error)))
            continue
        attempts.append(Attempt(strategy))
        return Capture(model, strategy, tuple(attempts))
    if len(attempts) == 1:
        failed = attempts[0]
        hint = f"; try {_NEXT[failed.strategy]} or --trace auto" if trace != "auto" and len(order) == 1 else ""
        raise GraphtoolError(f"{origin}: {failed.strategy} capture failed: {failed.error}{hint}")
    tried = "; ".join(f"{a.strategy}: {a.error}" for a in attempts)
    raise GraphtoolError(f"{origin}: no capture strategy worked ({tried})")


def reference_for(module: Any, names: Sequence[str]) -> Reference:
    """Run the module itself on numpy inputs; outputs flattened in graph-output order."""
    from converter.validation.runners import torch_runner

    return torch_runner(module, names)


def output_names(module: Any, args: tuple) -> list[str]:
    """Names for the module's outputs: 'output', 'output_0'..., or the keys of a returned dict."""
    torch = require("torch", "torch")
    with torch.no_grad(), quiet():
        result = module(*args)
    return [name for name, _ in _flatten(result, "output")]


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, str(key))
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}_{index}")
    elif value is not None:
        yield prefix, value


def _export_dynamo(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, folder: Path | None = None
) -> onnx.ModelProto:
    torch = require("torch", "torch")
    target = source.exported if source.exported is not None else source.module
    program = torch.onnx.export(
        target, args, dynamo=True, dynamic_shapes=_dynamic_shapes(specs, torch), opset_version=opset,
        verbose=False,
    )
    if folder is None:
        return program.model_proto
    # straight from the torch tensors to a data file: no protobuf holds the weights (it cannot past 2 GiB)
    program.save(str(folder / "model.onnx"), external_data=True)
    return onnx.load_model(str(folder / "model.onnx"), load_external_data=False)


def _export_torchscript(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, folder: Path | None = None
) -> onnx.ModelProto:
    torch = require("torch", "torch")
    buffer = io.BytesIO()
    dynamic_axes = {s.name: s.symbolic_dims() for s in specs if s.symbolic_dims()}
    torch.onnx.export(
        source.module, args, buffer, dynamo=False, input_names=[s.name for s in specs],
        dynamic_axes=dynamic_axes or None, opset_version=opset,
    )
    return onnx.load_model_from_string(buffer.getvalue())


def _export_fx(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, folder: Path | None = None
) -> onnx.ModelProto:
    torch = require("torch", "torch")
    traced = torch.fx.symbolic_trace(source.module)
    return _export_dynamo(TorchModel(traced, source.declared), specs, args, opset, folder)


_EXPORTERS: dict[str, Callable[..., onnx.ModelProto]] = {
    "export": _export_dynamo,
    "torchscript": _export_torchscript,
    "fx": _export_fx,
}


def _dynamic_shapes(specs: Sequence[InputSpec], torch: Any) -> tuple | None:
    dims: dict[str, Any] = {}
    shapes = []
    for spec in specs:
        axes = {axis: dims.setdefault(name, torch.export.Dim(name)) for axis, name in spec.symbolic_dims().items()}
        shapes.append(axes or None)
    return tuple(shapes) if dims else None



def _reason(error: BaseException) -> str:
    """The innermost cause: exporters wrap the real reason in generic 'step 2/3' messages."""
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    lines = [line.strip() for line in _ANSI.sub("", str(root)).splitlines() if line.strip()]
    return f"{type(root).__name__}: {lines[0] if lines else ''}"[:400]


def load_torch(model: TorchModel, fmt: Format, origin: str, options: LoadOptions) -> LoadedModel:
    """Pick input specs and example inputs, capture the module as ONNX and normalize it."""
    torch = require("torch", "torch")
    given = given_specs(options)
    names = [s.name for s in model.declared] or input_names(model.module)
    try:
        specs = _input_specs(model, names, given, options, origin)
    except NeedsInputsError as error:  # inspect still shows what the file holds
        error.contents = describe_module(model.module, {"path": origin, "format": fmt.value, "framework": "torch"},
                                         error.names)
        raise
    if options.inputs_file is None and model.example is not None and not given:
        feeds, notes = {s.name: t.detach().cpu().numpy() for s, t in zip(specs, model.example, strict=False)}, ()
    else:
        feeds, notes = example_inputs(specs, options)
    args = tuple(torch.from_numpy(np.ascontiguousarray(feeds[s.name])) for s in specs)
    outputs = output_names(model.module, args)
    opset = options.opset or DEFAULT_OPSET
    folder = external_data.scratch_folder() if _weight_bytes(model.module) > external_data.threshold() else None
    captured = capture(model, specs, args, opset, options.trace, origin, folder)
    if folder is not None and not external_data.uses_external_data(captured.model):
        external_data.externalize(captured.model, folder)  # an exporter that kept them inline
    proto = normalize(captured.model, opset=opset, input_names=[s.name for s in specs], output_names=outputs,
                      origin=origin)
    notes += model.audit_notes
    source = SourceInfo(origin, fmt.value, "torch", captured.strategy, captured.attempts, notes)
    loaded = LoadedModel(proto, source, feeds, reference_for(model.module, [s.name for s in specs]), folder)
    if folder is not None:
        external_data.release_with(loaded, folder)
    return loaded


def _weight_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers (a TorchScript module's too)."""
    tensors = {id(t): t for t in (*module.parameters(), *module.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def _input_specs(
    model: TorchModel, names: list[str], given: list[InputSpec], options: LoadOptions, origin: str
) -> list[InputSpec]:
    if model.declared:
        return merge_specs(model.declared, given)
    if options.inputs_file is not None and not given:
        arrays, _ = match_arrays(load_npz(options.inputs_file), names, f"--inputs {options.inputs_file}")
        return [InputSpec(n, tuple(a.shape), a.dtype.name) for n, a in arrays.items()]
    unknown = [g.name for g in given if g.name not in names]
    if unknown:
        raise GraphtoolError(f"--input {unknown[0]}: the model has no input '{unknown[0]}'; forward() takes "
                             f"{', '.join(names) or 'no arguments'}")
    by_name = {g.name: g for g in given}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise NeedsInputsError(
            f"{origin}: the input shapes are unknown; pass --input NAME:DIMS[:DTYPE] for "
            f"{', '.join(missing)} (e.g. --input {missing[0]}:batch,16, a name for each dynamic dim) "
            "or --inputs data.npz", missing)
    return [by_name[n] for n in names]
