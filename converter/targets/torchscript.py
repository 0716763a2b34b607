"""Write an ONNX model as TorchScript: torch.jit.script of the converted module, else torch.jit.trace."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnx

from converter.core.atomic import atomic_path
from converter.core.timing import stage
from converter.targets.torch import to_graph_module

__all__ = ["TorchScriptResult", "write_torchscript"]


@dataclass(frozen=True)
class TorchScriptResult:
    """Where the module went, how it was captured, and the If/Loop/Scan nodes whose path tracing fixed."""

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
    """Convert `model` and save it atomically; torch.jit.load(path)(*inputs) returns {output name: tensor}."""
    import torch

    from converter.targets.torch import examples
    from converter.targets.torch.script_control import scriptable_control

    with stage("build"):
        module = scriptable_control(to_graph_module(model, named_outputs=True).eval())
    fallbacks: list[str] = []
    fixed: list[str] = []
    try:
        captured, strategy = torch.jit.script(module), "script"
    except Exception as exc:  # noqa: BLE001 - scripting fails on Python-only helpers; tracing is the fallback
        fallbacks.append(f"script: {_reason(exc)}")
        inputs = tuple(example_inputs) if example_inputs is not None else tuple(examples.example_inputs(model))
        # trace records calls into ScriptModules as calls, so control flow scripted on its own keeps branching
        fixed = _script_control(module, _first_inputs(module, inputs), fallbacks)
        with torch.no_grad():
            captured, strategy = torch.jit.trace(module, inputs, check_trace=False, strict=False), "trace"
    target = Path(path)
    with atomic_path(target, force) as temporary:
        torch.jit.save(captured, str(temporary))
    return TorchScriptResult(str(target), strategy, target.stat().st_size, tuple(fallbacks), tuple(fixed))


def _script_control(module: Any, seen: dict[int, tuple], fallbacks: list[str]) -> list[str]:
    """Script each If/Loop/Scan submodule in place, innermost first; returns the ONNX nodes left to the outer trace."""
    import torch

    from converter.targets.torch.script_control import CONTROL_MODULES

    fixed: list[str] = []
    for node in module.graph.nodes:
        control = module.get_submodule(node.target) if node.op == "call_module" else None
        if not isinstance(control, CONTROL_MODULES):
            continue
        name = node.meta.get("onnx_node") or node.name
        try:
            for field, body in list(control.named_children()):
                fixed.extend(_script_control(body, seen, fallbacks))
                setattr(control, field, _script_or_trace(body, _body_inputs(control, field, seen), name, fallbacks))
            setattr(module, node.target, torch.jit.script(control))
        except Exception as exc:  # noqa: BLE001 - a body that neither scripts nor traces (e.g. never ran)
            fallbacks.append(f"script {name}: {_reason(exc)}")
            fixed.append(name)
    return fixed


def _script_or_trace(body: Any, inputs: list | None, name: str, fallbacks: list[str]) -> Any:
    """`body` scripted, else traced on `inputs` (which fixes its helpers but keeps control flow nested in it)."""
    import copy

    import torch

    try:
        # a copy is a fresh class: the failed whole-module script left this one half-compiled
        return torch.jit.script(copy.deepcopy(body))
    except Exception as exc:  # noqa: BLE001 - a Python-only helper in the body
        if inputs is None:
            raise
        fallbacks.append(f"script {name} body: {_reason(exc)}")
        with torch.no_grad():
            return torch.jit.trace(body, (inputs,), check_trace=False)


def _body_inputs(control: Any, field: str, seen: dict[int, tuple]) -> list | None:
    """The List[Tensor] a branch or body got first, or None when the example inputs never reached it."""
    # both If branches' inputs are computed before the If, so an untaken branch can be traced too
    from converter.targets.torch.script_control import ScriptIf

    if isinstance(control, ScriptIf):
        args = seen.get(id(control))
        return None if args is None else args[1 if field == "then_branch" else 2]
    args = seen.get(id(getattr(control, field)))
    return None if args is None else args[0]


def _first_inputs(module: Any, inputs: tuple) -> dict[int, tuple]:
    """The arguments each If/Loop/Scan module and body got on its first call while `module` ran on `inputs`, by id."""
    import torch

    from converter.targets.torch.script_control import CONTROL_MODULES

    controls = [m for m in module.modules() if isinstance(m, CONTROL_MODULES)]
    seen: dict[int, tuple] = {}
    if not controls:
        return seen
    def remember(module: Any, args: tuple) -> None:
        # returns None: a pre-hook's result replaces the arguments, which fed a loop body its first ones forever
        seen.setdefault(id(module), args)

    hooks = [m.register_forward_pre_hook(remember)
             for m in [*controls, *(body for c in controls for body in c.children())]]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def _reason(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"
