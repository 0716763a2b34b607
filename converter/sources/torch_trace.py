"""Capture a PyTorch module as ONNX: torch.export, the TorchScript exporter, or FX tracing first."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from converter.errors import GraphtoolError
from converter.inputs import InputSpec
from converter.sources.base import Attempt, Reference
from converter.sources.common import quiet, require
from converter.sources.torch_load import TorchModel

__all__ = ["STRATEGIES", "Capture", "capture", "reference_for", "output_names"]

STRATEGIES = ("export", "torchscript", "fx")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NEXT = {"export": "--trace torchscript", "torchscript": "--trace fx", "fx": "--trace export"}


@dataclass(frozen=True)
class Capture:
    """The exported ONNX model, the strategy that produced it and every strategy tried."""

    model: onnx.ModelProto
    strategy: str
    attempts: tuple[Attempt, ...]


def capture(
    source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int, trace: str, origin: str
) -> Capture:
    """Export with the requested strategy, or with each in order for 'auto'."""
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
                model = _EXPORTERS[strategy](source, specs, args, opset)
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
    torch = require("torch", "torch")

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        tensors = [torch.from_numpy(np.ascontiguousarray(feeds[name])) for name in names]
        with torch.no_grad():
            result = module(*tensors)
        return [t.detach().cpu().numpy() for _, t in _flatten(result, "output")]

    return run


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


def _export_dynamo(source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int) -> onnx.ModelProto:
    torch = require("torch", "torch")
    target = source.exported if source.exported is not None else source.module
    program = torch.onnx.export(
        target, args, dynamo=True, dynamic_shapes=_dynamic_shapes(specs, torch), opset_version=opset,
        verbose=False,
    )
    return program.model_proto


def _export_torchscript(source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int) -> onnx.ModelProto:
    torch = require("torch", "torch")
    buffer = io.BytesIO()
    dynamic_axes = {s.name: s.symbolic_dims() for s in specs if s.symbolic_dims()}
    torch.onnx.export(
        source.module, args, buffer, dynamo=False, input_names=[s.name for s in specs],
        dynamic_axes=dynamic_axes or None, opset_version=opset,
    )
    return onnx.load_model_from_string(buffer.getvalue())


def _export_fx(source: TorchModel, specs: Sequence[InputSpec], args: tuple, opset: int) -> onnx.ModelProto:
    torch = require("torch", "torch")
    traced = torch.fx.symbolic_trace(source.module)
    return _export_dynamo(TorchModel(traced, source.declared), specs, args, opset)


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
