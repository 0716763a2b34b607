"""ONNX If, Loop and Scan as TorchScript-compatible modules over List[Tensor] subgraphs, for torch.jit.script."""

# no `from __future__ import annotations`: TorchScript cannot read class-level attribute annotations as strings

import copy
import operator
from typing import List, Optional  # noqa: UP035 - TorchScript reads these annotations

import torch
from torch import Tensor, fx

from converter.targets.torch.runtime import control as run_control

__all__ = ["CONTROL_MODULES", "ScriptIf", "ScriptLoop", "ScriptScan", "scriptable_control"]


class ScriptIf(torch.nn.Module):
    """ONNX If: runs one branch; both take and return List[Tensor]."""

    def __init__(self, then_branch: torch.nn.Module, else_branch: torch.nn.Module) -> None:
        super().__init__()
        self.then_branch = then_branch
        self.else_branch = else_branch

    def forward(self, condition: Tensor, then_args: List[Tensor], else_args: List[Tensor]) -> List[Tensor]:  # noqa: UP006
        if bool(condition):
            return self.then_branch(then_args)
        return self.else_branch(else_args)


class ScriptLoop(torch.nn.Module):
    """ONNX Loop: body(iteration, condition, *carried, *captured) -> condition, *carried, *scanned."""

    scan_count: int

    def __init__(self, body: torch.nn.Module, scan_count: int) -> None:
        super().__init__()
        self.body = body
        self.scan_count = scan_count

    def forward(self, max_trips: Optional[Tensor], condition: Optional[Tensor], carried: List[Tensor],  # noqa: UP006, UP045
                captured: List[Tensor]) -> List[Tensor]:  # noqa: UP006
        keep = True if condition is None else bool(condition)
        bounded = max_trips is not None
        trips = int(max_trips) if max_trips is not None else 0
        values = carried
        scanned: List[List[Tensor]] = [[] for _ in range(self.scan_count)]  # noqa: UP006
        step = 0
        while keep and (not bounded or step < trips):
            out = self.body([torch.tensor(step), torch.tensor(keep)] + values + captured)
            keep = bool(out[0])
            values = out[1 : 1 + len(values)]
            for k in range(self.scan_count):
                scanned[k].append(out[1 + len(values) + k])
            step += 1
        # ONNX gives a loop that never ran empty scan outputs; their element shape is unknown here
        return values + [torch.stack(s) if len(s) > 0 else torch.empty(0) for s in scanned]


class ScriptScan(torch.nn.Module):
    """ONNX Scan: body(*states, *slices, *captured) -> *states, *outputs, once per slice along each scan axis."""

    in_axes: List[int]  # noqa: UP006
    in_reverse: List[int]  # noqa: UP006
    out_axes: List[int]  # noqa: UP006
    out_reverse: List[int]  # noqa: UP006

    def __init__(self, body: torch.nn.Module, in_axes, in_reverse, out_axes, out_reverse) -> None:
        super().__init__()
        self.body = body
        self.in_axes, self.in_reverse = [int(a) for a in in_axes], [int(r) for r in in_reverse]
        self.out_axes, self.out_reverse = [int(a) for a in out_axes], [int(r) for r in out_reverse]

    def forward(self, states: List[Tensor], scans: List[Tensor], captured: List[Tensor]) -> List[Tensor]:  # noqa: UP006
        steps = scans[0].size(self.in_axes[0]) if len(scans) > 0 else 0
        values = list(states)
        outputs: List[List[Tensor]] = [[] for _ in self.out_axes]  # noqa: UP006
        for step in range(steps):
            slices: List[Tensor] = []  # noqa: UP006
            for i, x in enumerate(scans):
                slices.append(x.select(self.in_axes[i], steps - 1 - step if self.in_reverse[i] else step))
            out = self.body(values + slices + captured)
            values = out[: len(values)]
            for k in range(len(self.out_axes)):
                outputs[k].append(out[len(values) + k])
        for k in range(len(self.out_axes)):
            if self.out_reverse[k]:
                outputs[k].reverse()
            values.append(torch.stack(outputs[k], self.out_axes[k]))
        return values


def _listed(body: fx.GraphModule) -> fx.GraphModule:
    """`body` as a module that takes its inputs as one List[Tensor] and returns its outputs as one."""
    graph = fx.Graph()
    args = graph.placeholder("args", type_expr=List[Tensor])  # noqa: UP006
    env: dict[fx.Node, fx.Node] = {}
    for node in body.graph.nodes:
        if node.op == "placeholder":
            env[node] = graph.call_function(operator.getitem, (args, len(env)))
        elif node.op == "output":
            out = node.args[0]
            values = list(out) if isinstance(out, (tuple, list)) else [out]
            graph.output([env[v] for v in values], type_expr=List[Tensor])  # noqa: UP006
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
    return fx.GraphModule(body, graph, body.__class__.__name__)


def _if(module: fx.GraphModule, node: fx.Node):
    condition, then_branch, else_branch, then_args, else_args = node.args
    branches = [_listed(scriptable_control(module.get_submodule(b.target))) for b in (then_branch, else_branch)]
    return ScriptIf(*branches), (condition, then_args, else_args)


def _loop(module: fx.GraphModule, node: fx.Node):
    max_trips, condition, body, carried, captured = node.args
    inner = scriptable_control(module.get_submodule(body.target))
    outputs = next(n for n in inner.graph.nodes if n.op == "output").args[0]
    count = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    return ScriptLoop(_listed(inner), count - 1 - len(carried)), (max_trips, condition, carried, captured)


def _scan(module: fx.GraphModule, node: fx.Node):
    body, states, scans, captured = node.args
    directions = [node.kwargs[k] for k in ("in_axes", "in_reverse", "out_axes", "out_reverse")]
    inner = _listed(scriptable_control(module.get_submodule(body.target)))
    return ScriptScan(inner, *directions), (states, scans, captured)


_CONTROL = {run_control.if_: _if, run_control.loop: _loop, run_control.scan: _scan}
CONTROL_MODULES = (ScriptIf, ScriptLoop, ScriptScan)


def scriptable_control(module: fx.GraphModule) -> fx.GraphModule:
    """`module`, or a copy whose control.if_/loop/scan calls (nested ones too) call ScriptIf/ScriptLoop/ScriptScan."""
    if not any(n.op == "call_function" and n.target in _CONTROL for n in module.graph.nodes):
        return module
    module = copy.deepcopy(module)
    for node in list(module.graph.nodes):
        if node.op != "call_function" or node.target not in _CONTROL:
            continue
        control, args = _CONTROL[node.target](module, node)
        name = f"{node.name}_control"
        module.add_submodule(name, control)
        with module.graph.inserting_before(node):
            replacement = module.graph.call_module(name, args)
        replacement.meta = dict(node.meta)
        node.replace_all_uses_with(replacement)
        module.graph.erase_node(node)
    for node in list(module.graph.nodes):
        if node.op == "get_attr" and not node.users:
            module.graph.erase_node(node)
    module.delete_all_unused_submodules()
    module.recompile()
    return module
