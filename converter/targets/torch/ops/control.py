"""Control flow: If (inlined when the condition is known), Loop and Scan (subgraphs as submodules)."""

from __future__ import annotations

from converter.targets.torch import loops
from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops


@torch_ops.register("If")
def if_(node: Node, condition):
    then_graph, else_graph = node.attr("then_branch"), node.attr("else_branch")
    if not is_traced(condition) and node.inline_graph is not None:
        return tuple(node.inline_graph(then_graph if bool(condition) else else_graph))
    then_module, then_args = node.submodule(then_graph)
    else_module, else_args = node.submodule(else_graph)
    result = node.call(loops.if_, condition, then_module, else_module, then_args, else_args)
    return tuple(result[i] for i in range(node.num_outputs))


@torch_ops.register("Loop")
def loop(node: Node, max_trips=None, condition=None, *carried):
    body, captured = node.submodule(node.attr("body"))
    result = node.call(loops.loop, max_trips, condition, body, list(carried), captured)
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
    result = node.call(loops.scan, body, list(inputs[:state_count]), list(inputs[state_count:]), captured,
                       **directions)
    return tuple(result[i] for i in range(node.num_outputs))
