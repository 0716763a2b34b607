"""Capturing a PyTorch module as ONNX: torch.export, TorchScript or FX, each checked right after capture."""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx

from converter.core.errors import GraphtoolError
from converter.core.frameworks import quiet, require
from converter.core.inputs import InputSpec
from converter.core.types import TRACES, Attempt, Reference
from converter.sources.torch_args import arguments, bind
from converter.sources.torch_checks import CaptureRefused, check_tracer_warnings, specialized_dims, user_line
from converter.sources.torch_datadep import (
    SUGGESTION,
    check_dropped_inputs,
    check_other_paths,
    guard_site,
    traced_branches,
)
from converter.sources.torch_experts import batched_experts

if TYPE_CHECKING:
    from converter.sources.torch import TorchModel

__all__ = ["STRATEGIES", "Capture", "capture"]

STRATEGIES = tuple(trace for trace in TRACES if trace != "auto")  # the order auto tries them in
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NEXT = {"export": "--trace torchscript", "export-decomposed": "--trace torchscript", "torchscript": "--trace fx",
         "fx": "--trace export"}


@dataclass(frozen=True)
class Capture:
    """The exported ONNX model, the strategy that produced it, every strategy tried, and notes for the user."""

    model: onnx.ModelProto
    strategy: str
    attempts: tuple[Attempt, ...]
    notes: tuple[str, ...] = ()


def capture(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, trace: str, origin: str,
    reference: Reference | None = None, folder: Path | None = None,
) -> Capture:
    """Export with the requested strategy, or with each in order for 'auto'.

    A capture that fixed a dynamic dim, or (TorchScript) baked in a data-dependent branch, counts as
    failed; a dim fixed by the requested strategy makes the others be tried, and any fallback is noted.
    Weights go into `folder` as external data if given.
    """
    if trace not in TRACES:
        raise GraphtoolError(f"--trace {trace}: unknown; expected {', '.join(TRACES[:-1])} or {TRACES[-1]}")
    torch = require("torch", "torch")
    order = list(STRATEGIES) if trace == "auto" else [trace]
    if isinstance(source.module, torch.jit.ScriptModule):
        if trace == "fx":
            raise GraphtoolError(f"{origin}: a TorchScript module cannot be FX-traced; use --trace torchscript")
        order = ["torchscript"]  # the only exporter that reads TorchScript
    attempts: list[Attempt] = []
    failures: list[Exception] = []  # each failed attempt's own exception, for --debug
    while order:
        strategy = order.pop(0)
        try:
            model = _capture_one(strategy, source, specs, args, opset, reference, folder)
        except GraphtoolError:
            raise
        except _Specialized as fixed:
            attempts.append(Attempt(strategy, str(fixed)))
            failures.append(fixed)
            if trace != "auto" and len(attempts) == 1 and not isinstance(source.module, torch.jit.ScriptModule):
                order = [s for s in STRATEGIES if s != strategy]
            continue
        except Exception as error:
            attempts.append(Attempt(strategy, _reason(error)))
            failures.append(error)
            if strategy == "export":
                order.insert(0, "export-decomposed")
            continue
        attempts.append(Attempt(strategy))
        notes = tuple(f"{a.strategy} capture failed ({a.error}); captured with {strategy} instead"
                      for a in attempts[:-1])
        return Capture(model, strategy, tuple(attempts), notes)
    if trace != "auto" and all(a.strategy in (trace, "export-decomposed") for a in attempts):
        failed = attempts[0]
        hint = "" if "data-dependent" in (failed.error or "") else f"; try {_NEXT[failed.strategy]} or --trace auto"
        raise GraphtoolError(f"{origin}: {failed.strategy} capture failed: {failed.error}{hint}") from failures[0]
    tried = "; ".join(f"{a.strategy}: {a.error}" for a in attempts)
    # one cause only (ExceptionGroup is 3.11+): the first strategy's, whose exporter frames --debug then shows
    raise GraphtoolError(f"{origin}: no capture strategy worked ({tried})") from failures[0]


class _Specialized(Exception):
    """The exporter fixed a dim the user declared dynamic."""


def _capture_one(
    strategy: str, source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int,
    reference: Reference | None, folder: Path | None,
) -> onnx.ModelProto:
    with quiet() as caught, batched_experts(source.module):
        model = _EXPORTERS[strategy](source, specs, args, opset, folder)
    branches = traced_branches(caught) if strategy == "torchscript" else []
    if strategy == "torchscript":
        check_tracer_warnings(caught)
        check_dropped_inputs(model, specs, branches)
    if reference is not None:
        fixed = specialized_dims(model, specs, reference)
        if fixed:
            raise _Specialized(f"it fixed the dynamic {', '.join(fixed)}")
        if branches:  # wherever they are, even in a library: the trace may hold for the example's path only
            check_other_paths(model, _numpy_feeds(specs, args), reference, branches)
    return model


def _numpy_feeds(specs: Sequence[InputSpec], args: tuple) -> dict[str, Any]:
    """The traced tensors as numpy, by input name; bfloat16, which numpy lacks, as float32."""
    return {spec.name: (arg.float() if str(arg.dtype) == "torch.bfloat16" else arg).detach().cpu().numpy()
            for spec, arg in zip(specs, args, strict=True)}


def _target(source: TorchModel) -> Any:
    if source.exported is not None:
        return source.exported
    return source.target if source.target is not None else source.module


def _export_dynamo(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, folder: Path | None = None
) -> onnx.ModelProto:
    torch = require("torch", "torch")
    program = _onnx_export(torch, _target(source), args, dynamic_shapes=_shapes_for(source, specs, torch),
                           opset_version=opset)
    return _proto_of(program, folder)


def _onnx_export(torch: Any, target: Any, args: tuple, **options: Any) -> Any:
    """torch.onnx.export, optimized only once no node output bears the name of a weight.

    The exporter names node outputs val_N whatever the program's weights are called; a program converted back
    from such an ONNX has weights named val_N, and constant folding then refuses the second 'val_N'.
    """
    program = torch.onnx.export(target, args, dynamo=True, optimize=False, verbose=False, **options)
    _rename_clashing_outputs(program.model.graph)
    program.optimize()
    return program


def _rename_clashing_outputs(graph: Any) -> None:
    """Give each node output named like a graph input or initializer a fresh name (onnx_ir graph, in place)."""
    reserved = {v.name for v in graph.inputs} | set(graph.initializers)
    outputs = [o for node in graph.all_nodes() for o in node.outputs]
    taken = reserved | {o.name for o in outputs}
    for value in outputs:
        if value.name in reserved:
            fresh = next(f"{value.name}_{k}" for k in range(1, len(taken) + 2) if f"{value.name}_{k}" not in taken)
            taken.add(fresh)
            value.name = fresh


def _proto_of(program: Any, folder: Path | None) -> onnx.ModelProto:
    if folder is None:
        proto = program.model_proto
    else:
        # straight from the torch tensors to a data file: no protobuf holds the weights (it cannot past 2 GiB)
        program.save(str(folder / "model.onnx"), external_data=True)
        proto = onnx.load_model(str(folder / "model.onnx"), load_external_data=False)
    _let_go_of_weights(program)
    return proto


def _let_go_of_weights(program: Any) -> None:
    """Unhook the ONNX IR's initializers from the module's tensors once they are written: onnxscript's rewrite
    rules keep their last match, and through it this graph, alive after the export, which would otherwise
    hold the module's weights as long as the process runs."""
    for value in program.model.graph.initializers.values():
        value.const_value = None


def _export_decomposed(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, folder: Path | None = None
) -> onnx.ModelProto:
    """torch.export, decomposed by torch itself, then the ONNX exporter on that program.

    torch 2.13's exporter re-runs views with strides of its own decomposition and fails ("Cannot view a
    tensor", T5's attention); a program decomposed beforehand has no such views left.
    """
    torch = require("torch", "torch")
    program = source.exported or torch.export.export(
        _target(source), args, dynamic_shapes=_shapes_for(source, specs, torch), strict=False)
    onnx_program = _onnx_export(torch, program.run_decompositions(), args, opset_version=opset)
    return _proto_of(onnx_program, folder)


def _shapes_for(source: TorchModel, specs: Sequence[InputSpec], torch: Any) -> tuple | None:
    shapes = _dynamic_shapes(specs, torch)
    if shapes is not None and source.target is not None and source.exported is None:
        return (shapes,)  # the bound module takes its inputs as *args
    return shapes


def _export_torchscript(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, folder: Path | None = None
) -> onnx.ModelProto:
    torch = require("torch", "torch")
    buffer = io.BytesIO()
    dynamic_axes = {s.name: s.symbolic_dims() for s in specs if s.symbolic_dims()}
    module = source.target if source.target is not None else source.module
    torch.onnx.export(
        module, args, buffer, dynamo=False, input_names=[s.name for s in specs],
        dynamic_axes=dynamic_axes or None, opset_version=opset,
    )
    return onnx.load_model_from_string(buffer.getvalue())


def _export_fx(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, folder: Path | None = None
) -> onnx.ModelProto:
    torch = require("torch", "torch")
    names = [s.name for s in specs]
    kept = {p.name: _default(source.module, p.name) for p in arguments(source.module) if p.name not in names}
    traced = torch.fx.symbolic_trace(source.module, concrete_args={**kept, **(source.constants or {})} or None)
    fx_source = dataclasses.replace(source, module=traced, exported=None, target=bind(traced, names, source.constants))
    return _export_dynamo(fx_source, specs, args, opset, folder)


def _default(module: Any, name: str) -> Any:
    return inspect.signature(module.forward).parameters[name].default


_EXPORTERS: dict[str, Callable[..., onnx.ModelProto]] = {
    "export": _export_dynamo,
    "torchscript": _export_torchscript,
    "fx": _export_fx,
    "export-decomposed": _export_decomposed,  # a fallback of export's, not a --trace choice
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
    # a GraphtoolError in the chain already says what went wrong; what it was raised from is for --debug
    while root.__cause__ is not None and not isinstance(root, GraphtoolError):
        root = root.__cause__
    if isinstance(root, CaptureRefused):
        return f"{type(root).__name__}: {root}"  # our own message, already one line that says what to do
    text = _ANSI.sub("", str(root))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    where = user_line(text) or user_line(_ANSI.sub("", str(error)))
    if type(root).__name__.startswith("GuardOnDataDependent"):
        site = guard_site(root) or (f"data-dependent branch at {where}: torch.export cannot decide it at trace "
                                    f"time; {SUGGESTION}" if where else None)
        if site:
            return f"{type(root).__name__}: {site}"
    return (f"{type(root).__name__}: {lines[0] if lines else ''}"[:400]) + (f" at {where}" if where else "")
