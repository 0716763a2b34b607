"""Control flow: If (inlined when the condition is known), Loop and Scan (subgraphs as submodules)."""

from __future__ import annotations

import torch

from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import control as run_control


@torch_ops.register("If")
def if_(node: Node, condition):
    then_graph, else_graph = node.attr("then_branch"), node.attr("else_branch")
    if not is_traced(condition) and node.inline_graph is not None:
        return tuple(node.inline_graph(then_graph if bool(condition) else else_graph))
    then_module, then_args = node.submodule(then_graph)
    else_module, else_args = node.submodule(else_graph)
    result = node.call(run_control.if_, condition, then_module, else_module, then_args, else_args)
    return tuple(result[i] for i in range(node.num_outputs))


_MAX_UNROLLED_TRIPS = 256


@torch_ops.register("Loop")
def loop(node: Node, max_trips=None, condition=None, *carried):
    if max_trips is not None and not is_traced(max_trips) and not is_traced(condition):
        unrolled = _unroll(node, int(max_trips), condition, list(carried))
        if unrolled is not None:
            return unrolled
    body, captured = node.submodule(node.attr("body"))
    result = node.call(run_control.loop, max_trips, condition, body, list(carried), captured, name=node.name)
    return tuple(result[i] for i in range(node.num_outputs))


@torch_ops.register("Scan", since=9)
def scan(node: Node, *inputs):
    body, captured = node.submodule(node.attr("body"))
    scan_count = node.attr("num_scan_inputs")
    state_count = len(inputs) - scan_count
    out_count = node.num_outputs - state_count
    directions = {
        "in_axes": node.attr("scan_input_axes", [0] * scan_count),
        "in_reverse": node.attr("scan_input_directions", [0] * scan_count),
        "out_axes": node.attr("scan_output_axes", [0] * out_count),
        "out_reverse": node.attr("scan_output_directions", [0] * out_count),
    }
    result = node.call(run_control.scan, body, list(inputs[:state_count]), list(inputs[state_count:]), captured,
                       **directions, name=node.name)
    return tuple(result[i] for i in range(node.num_outputs))


def _unroll(node: Node, trips: int, condition, carried: list):
    """The loop inlined trip by trip (torch.export cannot trace a data-dependent loop); None when the
    trip count is too large, a condition is only known at run time, or no trip runs."""
    if trips > _MAX_UNROLLED_TRIPS or node.inline_graph is None:
        return None
    keep = True if condition is None else bool(condition)
    values, scanned = carried, []
    for step in range(trips):
        if not keep:
            break
        out = node.inline_graph(node.attr("body"), [torch.tensor(step), torch.tensor(keep), *values])
        if is_traced(out[0]):
            return None
        keep = bool(out[0])
        values, scanned = list(out[1 : 1 + len(values)]), [*scanned, out[1 + len(values) :]]
    if not scanned and node.num_outputs > len(values):
        return None
    stacked = [torch.stack([s[k] for s in scanned]) for k in range(node.num_outputs - len(values))]
    return (*values, *stacked)
