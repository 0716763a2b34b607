"""Build a torch.fx.GraphModule from an ONNX graph: one handler call, usually one FX node, per ONNX node."""

from __future__ import annotations

from typing import Any

import onnx
import torch
import torch.fx

from converter.core.errors import UnsupportedOpError
from converter.core.external_data import tensor_array
from converter.core.onnx_utils import iter_graphs, subgraphs_of
from converter.targets.attributes import read_attributes
from converter.targets.registry import OpRegistry
from converter.targets.torch.decompose import function_body
from converter.targets.torch.dims import Dims, materialize
from converter.targets.torch.dtypes import onnx_dtype, tensor_of, torch_dtype
from converter.targets.torch.eager import EagerOp
from converter.targets.torch.names import Namer, sanitize
from converter.targets.torch.node import Node, RuntimeOnly, ValueType, is_traced

__all__ = ["GraphBuilder", "value_types"]


class _Tracer(torch.fx.proxy.GraphAppendingTracer):
    """Appends to one graph; a known tensor used by a traced call becomes a parameter or buffer of `root`."""

    def __init__(self, graph: torch.fx.Graph, root: torch.nn.Module, initializers: dict[int, str]):
        super().__init__(graph)
        self.root = root
        self._initializers = initializers
        self._attributes: dict[int, torch.fx.Node] = {}
        self._kept: list[torch.Tensor] = []  # keeps ids in `_attributes` from being reused
        self._namer = Namer()

    def create_arg(self, a: Any) -> Any:
        if isinstance(a, torch.Tensor):
            return self._attribute(a)
        return super().create_arg(a)

    def fresh_attribute(self, name: str, fallback: str) -> str:
        """A new attribute name of `root` resembling `name`."""
        return self._namer.fresh(sanitize(name, fallback).lower(), fallback.lower())

    def _attribute(self, tensor: torch.Tensor) -> torch.fx.Node:
        node = self._attributes.get(id(tensor))
        if node is not None:
            return node
        onnx_name = self._initializers.get(id(tensor))
        attr = self._namer.fresh(onnx_name or "const", "w")
        if onnx_name is not None and tensor.is_floating_point():
            self.root.register_parameter(attr, torch.nn.Parameter(tensor, requires_grad=False))
        else:
            self.root.register_buffer(attr, tensor)
        node = self.create_node("get_attr", attr, (), {})
        node.meta["onnx_initializer"] = onnx_name
        self._attributes[id(tensor)] = node
        self._kept.append(tensor)
        return node


def value_types(model: onnx.ModelProto) -> dict[str, ValueType]:
    """Name -> dtype and dims of every typed value in the model and its subgraphs."""
    types: dict[str, ValueType] = {}
    for graph in iter_graphs(model.graph):
        for info in [*graph.input, *graph.value_info, *graph.output]:
            tensor = info.type.tensor_type
            if not info.type.HasField("tensor_type"):
                continue
            shape = None
            if tensor.HasField("shape"):
                shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
            types[info.name] = ValueType(torch_dtype(tensor.elem_type), shape)
    return types


class GraphBuilder:
    """Converts an ONNX graph (or subgraph, with its free values as extra inputs) into a GraphModule."""

    def __init__(self, registry: OpRegistry, opsets: dict[str, int], types: dict[str, ValueType]):
        self.registry = registry
        self.opsets = opsets
        self.types = types

    def build(
        self, graph: onnx.GraphProto, outer: dict[str, Any] | None = None, class_name: str = "OnnxModule"
    ) -> tuple[torch.fx.GraphModule, list[Any]]:
        """The module and the outer values it captures (passed after the graph's own inputs)."""
        root, fx_graph = torch.nn.Module(), torch.fx.Graph()
        env: dict[str, Any] = {}
        initializers: dict[int, str] = {}
        for init in graph.initializer:
            tensor = tensor_of(tensor_array(init))
            env[init.name] = tensor
            initializers[id(tensor)] = init.name
        tracer = _Tracer(fx_graph, root, initializers)
        placeholders = Namer({"self"})
        for info in graph.input:
            if info.name not in env:
                env[info.name] = _placeholder(tracer, placeholders.fresh(info.name, "input"), info.name)
        captured: list[Any] = []
        for name in _free_names(graph):
            value = (outer or {}).get(name)
            if isinstance(value, Dims) and not value.known:
                value = materialize(value)  # computed in the outer graph, passed in like any tensor
            if is_traced(value) or isinstance(value, list) and any(is_traced(v) for v in value):
                env[name] = _placeholder(tracer, placeholders.fresh(name, "outer"), name)
                captured.append(value)
            elif value is not None:
                env[name] = value
        for proto in graph.node:
            self._convert_node(proto, env, tracer)
        outputs = [materialize(_lookup(env, out.name)) for out in graph.output]
        result = outputs[0] if len(outputs) == 1 else tuple(outputs)
        fx_graph.output(tracer.create_arg(result))
        module = torch.fx.GraphModule(root, fx_graph, class_name)
        if module.graph.eliminate_dead_code():  # e.g. a loop whose unrolling was abandoned
            _drop_unused_children(module)
            module.recompile()
        return module, captured

    def _convert_node(
        self, proto: onnx.NodeProto, env: dict[str, Any], tracer: _Tracer, opsets: dict[str, int] | None = None
    ) -> None:
        domain = "" if proto.domain in ("", "ai.onnx") else proto.domain
        opset = (opsets or self.opsets).get(domain, 1)
        values = [_lookup(env, name) if name else None for name in proto.input]
        if any(isinstance(v, Dims) for v in values):
            last = _last_node(tracer.graph)
            result = self._dims_handler(proto, opset, values)
            if result is not None:
                env[proto.output[0]] = result
                _label(tracer.graph, last, proto, env)
                return
            values = [materialize(v) for v in values]
        node = Node(
            proto=proto,
            opset=opset,
            attrs=read_attributes(proto),
            inputs=tuple(self._type_of(name, value) for name, value in zip(proto.input, values, strict=False)),
            outputs=tuple(self.types.get(name, ValueType()) for name in proto.output),
            convert_graph=lambda graph: self._submodule(graph, env, tracer),
            inline_graph=lambda graph, inputs=(): self._inline(graph, env, tracer, inputs),
        )
        try:
            handler = self.registry.lookup(proto, opset)
        except UnsupportedOpError:
            body = function_body(proto, opset, [_type_proto(t) for t in node.inputs])
            if body is None:
                raise
            self.types.update(_infer_types(body[0], body[1], proto, node.inputs))
            for inner in body[0]:
                self._convert_node(inner, env, tracer, {**self.opsets, **body[1]})
            return
        last = _last_node(tracer.graph)
        try:
            with torch.no_grad():
                result = handler(node, *values)
        except RuntimeOnly:
            if not any(is_traced(v) for v in values):
                raise
            result = _eager(tracer, node, handler, values)
        except UnsupportedOpError:
            raise
        except (RuntimeError, TypeError, ValueError, IndexError, NotImplementedError) as exc:
            raise node.unsupported(f"conversion failed: {exc}") from exc
        results = list(result) if isinstance(result, tuple) else [result]
        for index, name in enumerate(proto.output):
            if not name:
                continue
            absent = index >= len(results) or results[index] is None and proto.op_type != "Optional"
            if absent:
                raise node.unsupported(f"output {index} ({name}) is not produced by this converter")
            env[name] = results[index]
        _label(tracer.graph, last, proto, env)

    def _dims_handler(self, proto: onnx.NodeProto, opset: int, values: list[Any]) -> Any:
        try:
            handler = self.registry.entry(proto, opset).dims
        except UnsupportedOpError:
            return None
        if handler is None or len(proto.output) != 1:
            return None
        node = Node(proto, opset, read_attributes(proto), tuple(self._type_of(n, v) for n, v in
                    zip(proto.input, values, strict=False)), ())
        with torch.no_grad():
            return handler(node, *values)

    def _submodule(self, graph: onnx.GraphProto, env: dict[str, Any], tracer: _Tracer) -> tuple[Any, list[Any]]:
        module, captured = self.build(graph, env, "OnnxSubgraph")
        name = tracer.fresh_attribute(graph.name or "subgraph", "subgraph")
        tracer.root.add_module(name, module)
        return tracer.create_proxy("get_attr", name, (), {}), captured

    def _inline(self, graph: onnx.GraphProto, env: dict[str, Any], tracer: _Tracer, inputs=()) -> list[Any]:
        local = dict(env)
        local.update((info.name, value) for info, value in zip(graph.input, inputs, strict=False))
        for init in graph.initializer:
            local[init.name] = tensor_of(tensor_array(init))
        for proto in graph.node:
            self._convert_node(proto, local, tracer)
        return [_lookup(local, out.name) for out in graph.output]

    def _type_of(self, name: str, value: Any) -> ValueType:
        if isinstance(value, Dims):
            return ValueType(torch.int64, () if value.scalar else (len(value.items),))
        if isinstance(value, torch.Tensor):
            return ValueType(value.dtype, tuple(value.shape))
        return self.types.get(name, ValueType())


def _eager(tracer: _Tracer, node: Node, handler: Any, values: list[Any]) -> Any:
    name = tracer.fresh_attribute(node.proto.name or node.proto.output[0], node.op_type)
    tracer.root.add_module(name, EagerOp(node, handler))
    proxy = tracer.create_proxy("call_module", name, tuple(values), {})
    if node.num_outputs == 1:
        return proxy
    return tuple(proxy[i] for i in range(node.num_outputs))


def _infer_types(
    nodes: list[onnx.NodeProto], opsets: dict[str, int], proto: onnx.NodeProto, inputs: tuple[ValueType, ...]
) -> dict[str, ValueType]:
    """Types of a function body's values, inferred by onnx from the types of the node's inputs."""
    known = [
        onnx.helper.make_value_info(name, _type_proto(value))
        for name, value in zip(proto.input, inputs, strict=False)
        if name and value.dtype is not None
    ]
    graph = onnx.helper.make_graph(nodes, "body", known, [onnx.ValueInfoProto(name=n) for n in proto.output if n])
    imports = [onnx.helper.make_opsetid(domain, version) for domain, version in opsets.items()]
    try:
        inferred = onnx.shape_inference.infer_shapes(onnx.helper.make_model(graph, opset_imports=imports))
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError):
        return {}
    return {k: v for k, v in value_types(inferred).items() if v.dtype is not None and k not in proto.input}


def _type_proto(value: ValueType) -> onnx.TypeProto:
    elem = onnx_dtype(value.dtype) if value.dtype is not None else onnx.TensorProto.UNDEFINED
    return onnx.helper.make_tensor_type_proto(elem, value.shape)


def _drop_unused_children(module: torch.fx.GraphModule) -> None:
    """Delete the submodules no node of `module` refers to any more, keeping whole those it does."""
    # GraphModule.delete_all_unused_submodules would also delete the children of a subgraph it only reaches by
    # get_attr (an If inside a Loop body), leaving that body referring to branches it no longer has
    used = {node.target.split(".")[0] for node in module.graph.nodes if node.op in ("get_attr", "call_module")}
    for name in [name for name, _ in module.named_children() if name not in used]:
        module.delete_submodule(name)


def _placeholder(tracer: _Tracer, name: str, onnx_name: str) -> torch.fx.Proxy:
    proxy = tracer.create_proxy("placeholder", name, (), {})
    proxy.node.meta["onnx_value"] = onnx_name
    return proxy


def _lookup(env: dict[str, Any], name: str) -> Any:
    if name not in env:
        raise UnsupportedOpError(name, "?", 0, f"value '{name}' is used before it is defined")
    return env[name]


def _last_node(graph: torch.fx.Graph) -> torch.fx.Node | None:
    nodes = list(reversed(graph.nodes))
    return nodes[0] if nodes else None


def _label(graph: torch.fx.Graph, last: torch.fx.Node | None, proto: onnx.NodeProto, env: dict[str, Any]) -> None:
    """Tag the FX nodes a handler added with the ONNX node, and name its outputs after the ONNX values."""
    added = list(graph.nodes)
    if last is not None:
        added = added[added.index(last) + 1 :]
    for fx_node in added:
        if fx_node.op == "call_function" or fx_node.op == "call_method" or fx_node.op == "call_module":
            fx_node.meta["onnx_node"] = proto.name
            fx_node.meta["onnx_op"] = proto.op_type
    produced = set(added)
    for name in proto.output:
        value = env.get(name) if name else None
        if is_traced(value) and value.node in produced and value.node.op.startswith("call"):
            value.node.meta["onnx_output"] = name
            value.node._rename(Namer().fresh(name))



def _free_names(graph: onnx.GraphProto) -> list[str]:
    """Values a graph (or any graph nested in it) uses without defining them, in first-use order."""
    defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    free: dict[str, None] = {}
    for node in graph.node:
        used = list(node.input)
        for attr in node.attribute:
            for sub in subgraphs_of(attr):
                used.extend(_free_names(sub))
        free.update((name, None) for name in used if name and name not in defined)
        defined.update(node.output)
    for out in graph.output:
        if out.name not in defined:
            free[out.name] = None
    return list(free)
