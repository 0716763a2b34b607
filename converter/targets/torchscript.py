"""Write an ONNX model as TorchScript: torch.jit.script of the converted module, else torch.jit.trace."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnx

from converter.atomic import atomic_path
from converter.targets.torch import to_graph_module

__all__ = ["TorchScriptResult", "write_torchscript"]


@dataclass(frozen=True)
class TorchScriptResult:
    """Where the module went and how it was captured ('script' keeps control flow, 'trace' fixes it:
    `fixed_control_flow` names the ONNX If/Loop/Scan nodes whose path the example inputs decided)."""

    path: str
    strategy: str
    size_bytes: int
    fallbacks: tuple[str, ...] = ()
    fixed_control_flow: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_torchscript(
    model: onnx.ModelProto,
    path: str | os.PathLike[str],
    *,
    example_inputs: Sequence[Any] | None = None,
    force: bool = False,
) -> TorchScriptResult:
    """Convert `model` and save it atomically; load with torch.jit.load(path), call with inputs in order."""
    import torch

    from converter.targets.torch import examples

    module = to_graph_module(model).eval()
    fallbacks: list[str] = []
    fixed: tuple[str, ...] = ()
    try:
        captured, strategy = torch.jit.script(module), "script"
    except Exception as exc:  # noqa: BLE001 - scripting fails on Python-only helpers; tracing is the fallback
        fallbacks.append(f"script: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        inputs = tuple(example_inputs) if example_inputs is not None else tuple(examples.example_inputs(model))
        with torch.no_grad():
            captured, strategy = torch.jit.trace(module, inputs, check_trace=False), "trace"
        fixed = _control_flow(module)
    target = Path(path)
    with atomic_path(target, force) as temporary:
        torch.jit.save(captured, str(temporary))
    return TorchScriptResult(str(target), strategy, target.stat().st_size, tuple(fallbacks), fixed)


def _control_flow(module: Any) -> tuple[str, ...]:
    """The ONNX nodes that still branch or loop at run time in the converted module."""
    from converter.targets.torch import loops

    runtime = {loops.if_, loops.loop, loops.scan}
    return tuple(
        n.meta.get("onnx_node") or n.name for n in module.graph.nodes if n.op == "call_function" and n.target in runtime
    )
