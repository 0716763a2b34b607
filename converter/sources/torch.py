"""PyTorch sources: read an artifact or a factory's module without running untrusted code, capture it as ONNX."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx

from converter.core import external_data
from converter.core.dynamic import fixed_dims, free_dims, traceable
from converter.core.errors import GraphtoolError, first_line
from converter.core.frameworks import quiet, require
from converter.core.inputs import InputSpec, example_inputs, given_specs, load_npz, match_arrays, merge_specs
from converter.core.onnx_utils import iter_nodes, symbolic_dim_name, value_names
from converter.core.scopes import SCOPE_KEY, node_scope, set_node_meta
from converter.core.types import LoadedModel, LoadOptions, Reference, SourceInfo
from converter.sources import pyref
from converter.sources.contents import NeedsInputsError, describe_module
from converter.sources.formats import Format
from converter.sources.normalize import DEFAULT_OPSET, normalize, rename_values
from converter.sources.torch_args import (
    Argument,
    arguments,
    bind,
    cache_inputs,
    call_checked,
    choose,
    describe_arguments,
    flatten_outputs,
)
from converter.sources.torch_capture import STRATEGIES, Capture, capture

__all__ = [
    "STRATEGIES", "TorchModel", "Capture", "Prepared", "prepare_torch", "torch_reference", "load_torch", "read_torch",
    "open_torchscript", "open_exported", "from_object", "input_names", "capture", "reference_for", "output_names",
]

_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


@dataclass
class TorchModel:
    """A module ready to trace, with what its artifact declares about its inputs."""

    module: Any
    declared: list[InputSpec]
    example: tuple | None = None  # example input tensors, when the artifact or factory gives them
    exported: Any = None  # the ExportedProgram, for .pt2 files
    audit_notes: tuple[str, ...] = ()  # what --trust-code let through (converter.sources.audit)
    constants: dict | None = None  # non-tensor example arguments (flags): fixed, not graph inputs
    target: Any = None  # what is captured: the module bound to the traced arguments (set by load_torch)


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
        raise GraphtoolError(f"{path}: not a loadable TorchScript archive ({first_line(error)})") from error


def open_exported(path: str) -> Any:
    """torch.export.load: the program's graph, deserialized without running it."""
    torch = require("torch", "torch")
    try:
        with quiet():
            return torch.export.load(path)
    except Exception as error:
        raise GraphtoolError(f"{path}: not a loadable ExportedProgram ({first_line(error)})") from error


def from_object(obj: Any, origin: str) -> TorchModel:
    """An nn.Module, or a (module, example inputs) tuple, as returned by a user's factory."""
    torch = require("torch", "torch")
    example = None
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], torch.nn.Module):
        obj, example = obj
        if not isinstance(example, (tuple, list, Mapping)):
            example = (example,)
    if isinstance(obj, torch.export.ExportedProgram):
        return _from_exported(obj)
    if not isinstance(obj, torch.nn.Module):
        raise GraphtoolError(f"{origin}: expected an nn.Module or (module, example inputs), got {type(obj).__name__}")
    if example is None:
        return TorchModel(obj.eval(), [])
    by_name = _flat_example(dict(example) if isinstance(example, Mapping) else dict(
        zip(input_names(obj, len(example)), example, strict=False)))
    tensors = {k: v for k, v in by_name.items() if isinstance(v, torch.Tensor)}
    past, constants = cache_inputs({k: v for k, v in by_name.items() if not isinstance(v, torch.Tensor)}, origin)
    params = arguments(obj)
    order = [n for n in choose(params, list(by_name), origin, "example input") if n in tensors] if params \
        else list(tensors)
    tensors, order = {**tensors, **past}, [*order, *past]
    declared = [_spec_of(name, tensors[name]) for name in order]
    return TorchModel(obj.eval(), declared, tuple(tensors[name] for name in order), constants=constants)


def _flat_example(by_name: dict[str, Any]) -> dict[str, Any]:
    """A dict argument's entries become inputs of their own, named `param.key`."""
    flat: dict[str, Any] = {}
    for name, value in by_name.items():
        if isinstance(value, Mapping):
            flat.update({f"{name}.{key}": item for key, item in value.items()})
        else:
            flat[name] = value
    return flat


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
            raise GraphtoolError(f"{path}: not a loadable torch.save file ({first_line(error)})") from error
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
        ) from error
    except Exception as error:
        raise GraphtoolError(f"{path}: unpickling failed ({first_line(error)})") from error


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
        raise GraphtoolError(f"--model-class {reference}: cannot construct it without arguments ({error})") from error
    try:
        module.load_state_dict(state, strict=True)
    except Exception as error:
        raise GraphtoolError(f"{path}: its state_dict does not fit {reference}: {first_line(error)}") from error
    return module


def _spec_of(name: str, tensor: Any) -> InputSpec:
    return InputSpec(name, tuple(int(d) for d in tensor.shape), str(tensor.dtype).removeprefix("torch."))


def reference_for(module: Any, names: Sequence[str]) -> Reference:
    """Run the module itself on numpy inputs; outputs flattened in graph-output order."""
    from converter.core.runners import torch_runner

    return torch_runner(module, names)


def output_names(module: Any, args: tuple) -> list[str]:
    """Names for the module's outputs: 'output', 'output_0'..., a dict's or ModelOutput's keys, cache layers."""
    torch = require("torch", "torch")
    with torch.no_grad(), quiet():
        result = module(*args)
    return [name for name, _ in flatten_outputs(result)]


@dataclass(frozen=True)
class Prepared:
    """A torch model ready to run and capture: its input specs and names, example feeds, and what runs it."""

    specs: list[InputSpec]
    names: list[str]
    feeds: dict[str, np.ndarray]
    notes: tuple[str, ...]
    runnable: Any  # the module, or the module bound to the traced arguments (model.target)
    data_fixed: bool = False  # the specs' fixed dims come from --inputs data, which gives values, not a shape


def _data_fixed(model: TorchModel, options: LoadOptions, given: list[InputSpec], specs: list[InputSpec]) -> bool:
    """Whether --inputs data (not --input, --static or a program's own shapes) is all that fixes the dims."""
    return (options.inputs_file is not None and not options.static and model.exported is None
            and not any(spec.name in {g.name for g in given} for spec in specs))


def prepare_torch(model: TorchModel, fmt: Format, origin: str, options: LoadOptions) -> Prepared:
    """Pick the traced arguments and example inputs; bind keyword and constant arguments (sets model.target)."""
    torch = require("torch", "torch")
    given = given_specs(options)
    params = _parameters(model, torch)
    try:
        specs = _input_specs(model, params, given, options, origin)
    except NeedsInputsError as error:  # inspect still shows what the file holds
        error.contents = describe_module(model.module, {"path": origin, "format": fmt.value, "framework": "torch"},
                                         error.names)
        raise
    names = [s.name for s in specs]
    if options.inputs_file is None and model.example is not None and not given:
        feeds, notes = {s.name: _as_array(t) for s, t in zip(specs, model.example, strict=False)}, ()
    else:
        feeds, notes = example_inputs(specs, options)
    if options.static:
        specs = fixed_dims(specs, feeds)
    if params:
        model.target = bind(model.module, names, model.constants)
        described = describe_arguments(params, names, list(model.constants or ()))
        notes = (*notes, described) if described else notes
    runnable = model.target if model.target is not None else model.module
    return Prepared(specs, names, feeds, notes, runnable, _data_fixed(model, options, given, specs))


def torch_reference(model: TorchModel, fmt: Format, origin: str, options: LoadOptions) -> Reference:
    """The model run as it is, in PyTorch (no capture): what `graphtool bench` times as the source."""
    prepared = prepare_torch(model, fmt, origin, options)
    return reference_for(prepared.runnable, prepared.names)


def load_torch(model: TorchModel, fmt: Format, origin: str, options: LoadOptions) -> LoadedModel:
    """Pick the traced arguments and example inputs, capture the module as ONNX and normalize it."""
    prepared = prepare_torch(model, fmt, origin, options)
    names, feeds, runnable = prepared.names, prepared.feeds, prepared.runnable
    args = _tensors(feeds, names)
    how = f"--inputs {options.inputs_file}" if options.inputs_file is not None else "--input"
    outputs = _output_names(model, runnable, names, args, how)
    opset = options.opset or DEFAULT_OPSET
    reference = reference_for(runnable, names)
    folder = external_data.scratch_folder() if _weight_bytes(model.module) > external_data.threshold() else None
    captured, fixed = _capture_freed(model, prepared, opset, options.trace, origin, reference, folder) \
        if prepared.data_fixed else (None, ())
    captured = captured or capture(model, prepared.specs, args, opset, options.trace, origin, reference, folder)
    if folder is not None and not external_data.uses_external_data(captured.model):
        external_data.externalize(captured.model, folder)  # an exporter that kept them inline
    proto = normalize(captured.model, opset=opset, input_names=names, output_names=outputs, origin=origin,
                      value_shapes=options.value_shapes)
    if model.target is not None:
        _drop_binding_scope(proto)
    notes = (*prepared.notes, *fixed, *captured.notes, *model.audit_notes)
    source = SourceInfo(origin, fmt.value, "torch", captured.strategy, captured.attempts, notes)
    loaded = LoadedModel(proto, source, feeds, reference, folder)
    if folder is not None:
        external_data.release_with(loaded, folder)
    return loaded


def _tensors(feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> tuple:
    torch = require("torch", "torch")
    return tuple(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names)


def _capture_freed(model: TorchModel, prepared: Prepared, opset: int, trace: str, origin: str,
                   reference: Reference, folder: Any) -> tuple[Capture | None, tuple[str, ...]]:
    """The capture with the batch (and token sequence) dims of --inputs data left dynamic, traced on the data
    tiled where a dim is 1; None, and a note saying why, where the model captures only at the data's shape."""
    specs, freed = free_dims(prepared.specs)
    if not freed:
        return None, ()
    args = _tensors({s.name: traceable(prepared.feeds[s.name], s) for s in specs}, prepared.names)
    try:
        with quiet():
            return capture(model, specs, args, opset, trace, origin, reference, folder), ()
    except GraphtoolError as error:
        return None, (f"{', '.join(freed)} fixed at the size of the --inputs data: the model does not capture "
                      f"with it dynamic ({first_line(error)[:300]}); --static fixes every dim without this note",)


def _weight_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers (a TorchScript module's too)."""
    tensors = {id(t): t for t in (*module.parameters(), *module.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def _drop_binding_scope(model: onnx.ModelProto) -> None:
    """The bound module holds the user's as `inner`: weights and scopes are the user's names without it."""
    names = value_names(model.graph)
    rename_values(model, {name: name.removeprefix("inner.") for name in names if name.startswith("inner.")})
    for node in iter_nodes(model.graph):
        scope = node_scope(node)
        if scope == "inner" or scope.startswith("inner/"):
            set_node_meta(node, SCOPE_KEY, scope.removeprefix("inner").removeprefix("/"))


def _parameters(model: TorchModel, torch: Any) -> list[Argument]:
    """forward()'s parameters, for modules called by keyword; none for programs and TorchScript (positional)."""
    if model.exported is not None or isinstance(model.module, torch.jit.ScriptModule):
        return []
    return arguments(model.module)


def _output_names(model: TorchModel, runnable: Any, names: list[str], args: tuple, how: str) -> list[str]:
    """Named after the module's own result (the bound module returns the same tensors flattened)."""
    if model.target is None:
        return output_names(runnable, args)
    torch = require("torch", "torch")
    with torch.no_grad(), quiet():
        result = call_checked(model.module, names, args, model.constants, how)
    return [name for name, _ in flatten_outputs(result)]



def _input_specs(
    model: TorchModel, params: list[Argument], given: list[InputSpec], options: LoadOptions, origin: str
) -> list[InputSpec]:
    """The specs of the traced inputs: declared by the artifact, given by --input, or read from --inputs."""
    if model.declared:
        return merge_specs(model.declared, given)
    names = [p.name for p in params] or input_names(model.module)
    if options.inputs_file is not None and not given:
        arrays = load_npz(options.inputs_file)
        origin_npz = f"--inputs {options.inputs_file}"
        if params and any(name.partition(".")[0] in names for name in arrays):
            # an array named after no argument is other data (labels), left out as every source leaves it; a
            # dotted one means a dict entry, so a wrong argument there is refused
            wanted = [n for n in arrays if n.partition(".")[0] in names or "." in n]
            chosen = choose(params, wanted, origin, f"{origin_npz}: array")
            matched = {n: arrays[n] for n in chosen}
        else:
            required = [p.name for p in params if p.required] or names
            matched, _ = match_arrays(arrays, required, origin_npz)
        return [InputSpec(n, tuple(a.shape), a.dtype.name) for n, a in matched.items()]
    if params:
        chosen = choose(params, [g.name for g in given], origin, "--input")
        by_name = {g.name: g for g in given}
        return [by_name[n] for n in chosen]
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


def _as_array(tensor) -> np.ndarray:
    """An example tensor as numpy; bfloat16, which numpy lacks, as float32."""
    import torch

    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy().copy()  # never the user's memory
