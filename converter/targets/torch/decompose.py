"""Expand an op without a handler into the nodes of its ONNX function body (Attention, losses, ...)."""

from __future__ import annotations

import onnx

from converter.core.onnx_utils import subgraphs_of

__all__ = ["function_body"]


def function_body(
    node: onnx.NodeProto, opset: int, input_types: list[onnx.TypeProto]
) -> tuple[list[onnx.NodeProto], dict[str, int]] | None:
    """The node's function body with its inputs, outputs and attributes bound, and the body's opsets."""
    function = _function(node, opset, input_types)
    if function is None:
        return None
    schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    attributes = {a.name: a for a in function.attribute_proto}
    attributes.update({a.name: a for a in node.attribute})
    for name, spec in schema.attributes.items():
        if name not in attributes and spec.default_value.type != onnx.AttributeProto.UNDEFINED:
            attributes[name] = spec.default_value
    prefix = f"{node.name or node.output[0]}::"
    renamed = {formal: actual for formal, actual in zip(function.input, node.input, strict=False)}
    renamed.update({formal: "" for formal in function.input[len(node.input):]})
    renamed.update(zip(function.output, node.output, strict=False))

    def name_of(name: str) -> str:
        return renamed.get(name, prefix + name) if name else ""

    nodes = []
    for inner in function.node:
        bound = _bind(inner, name_of, attributes, rename_outputs=True)
        bound.name = prefix + (inner.name or inner.op_type)
        nodes.append(bound)
    opsets = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in function.opset_import}
    return nodes, opsets


def _function(node: onnx.NodeProto, opset: int, input_types: list[onnx.TypeProto]) -> onnx.FunctionProto | None:
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return None
    function = onnx.FunctionProto()
    versions = [v for v in schema.function_opset_versions if v <= opset]
    if versions:
        function.ParseFromString(schema.get_function_with_opset_version(max(versions)))
        return function
    versions = [v for v in schema.context_dependent_function_opset_versions if v <= opset]
    if not versions:
        return None
    body = schema.get_context_dependent_function_with_opset_version(
        max(versions), node.SerializeToString(), [t.SerializeToString() for t in input_types]
    )
    function.ParseFromString(body)
    return function if function.node else None


def _bind(
    inner: onnx.NodeProto, name_of, attributes: dict[str, onnx.AttributeProto], rename_outputs: bool
) -> onnx.NodeProto:
    """A copy of `inner` with its inputs (and outputs) renamed and attribute references resolved."""
    bound = onnx.NodeProto()
    bound.CopyFrom(inner)
    del bound.input[:], bound.attribute[:]
    bound.input.extend(name_of(n) for n in inner.input)
    if rename_outputs:
        del bound.output[:]
        bound.output.extend(name_of(n) for n in inner.output)
    for attr in inner.attribute:
        if attr.ref_attr_name:
            if attr.ref_attr_name in attributes:
                value = onnx.AttributeProto()
                value.CopyFrom(attributes[attr.ref_attr_name])
                value.name = attr.name
                bound.attribute.append(value)
            continue
        value = onnx.AttributeProto()
        value.CopyFrom(attr)
        for graph in subgraphs_of(value):
            _bind_graph(graph, name_of, attributes)
        bound.attribute.append(value)
    return bound


def _bind_graph(graph: onnx.GraphProto, name_of, attributes: dict[str, onnx.AttributeProto]) -> None:
    """Rebind, in place, a nested graph's uses of the function's values; its own values keep their names."""
    local = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    for node in graph.node:
        local.update(node.output)

    def inner_name(name: str) -> str:
        return name if not name or name in local else name_of(name)

    nodes = [_bind(node, inner_name, attributes, rename_outputs=False) for node in graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    for out in graph.output:
        out.name = inner_name(out.name)
