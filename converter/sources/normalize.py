"""Bring any exported ONNX model to graphtool's one normal form."""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Sequence
from pathlib import Path

import onnx

from converter.core.errors import GraphtoolError
from converter.core.onnx_utils import default_opset, iter_graphs, iter_nodes, unique_name, value_names
from converter.core.output_names import record_output_names, recorded_output_names
from converter.core.scopes import SCOPE_KEY, SOURCE_KEY
from converter.core.timing import stage

__all__ = ["DEFAULT_OPSET", "normalize", "rename_values"]

# Both the torch.export ONNX exporter and tf2onnx reach this opset.
DEFAULT_OPSET = 18

_TORCH_SCOPES = "pkg.torch.onnx.name_scopes"
_TORCH_STACK = "pkg.torch.onnx.stack_trace"
_PLACEHOLDER_DIM = re.compile(r"^unk__\d+$")
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def normalize(
    model: onnx.ModelProto,
    *,
    opset: int | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    origin: str = "model",
    value_shapes: bool = True,
) -> onnx.ModelProto:
    """Convert opset, name inputs/outputs after the source, name nodes uniquely, record scopes, infer shapes.

    With `value_shapes` False, shapes are inferred only when a graph output lacks its type or shape.
    """
    with stage("normalize"):
        return _normalize(model, opset, input_names, output_names, origin, value_shapes)


def _normalize(model: onnx.ModelProto, opset: int | None, input_names: Sequence[str] | None,
               output_names: Sequence[str] | None, origin: str, value_shapes: bool) -> onnx.ModelProto:
    if opset is not None and default_opset(model) != opset:
        model = _convert_opset(model, opset, origin)
    _name_interface(model, input_names or (), output_names or ())
    _name_nodes(model.graph)
    _forget_placeholder_dims(model.graph)
    for node in iter_nodes(model.graph):
        _record_origin(node)
    # without value_shapes, inference would add only intermediate shapes: half of a 100k-node inspect
    if value_shapes or not _outputs_typed(model.graph):
        model = _infer_shapes(model)
        if _may_hold_placeholders(model):
            _forget_placeholder_dims(model.graph, keep_value_info=True)  # inference invents unk__N names too
    _name_output_batch(model.graph)
    return model


def _name_interface(model: onnx.ModelProto, input_names: Sequence[str], output_names: Sequence[str]) -> None:
    """Name inputs and outputs after the source. An intermediate value holding a wanted name (torch.export names
    one `embedding` after its op) gives it up; an output named like an input keeps a suffix, and its source name
    is recorded in the model's metadata for the targets."""
    graph = model.graph
    mapping = {}
    for values, names in ((graph.input, input_names), (graph.output, output_names)):
        mapping.update({v.name: n for v, n in zip(values, names, strict=False) if v.name != n})
    if not mapping:
        return
    interface = {v.name for v in (*graph.input, *graph.output)}
    wanted = set(mapping.values())
    names = value_names(graph)
    taken = names | wanted
    in_the_way = {name: unique_name(name, taken) for name in sorted(names & wanted - interface)}
    if in_the_way:
        rename_values(model, in_the_way)
    rename_values(model, mapping)
    if output_names:
        record_output_names(model, {v.name: n for v, n in zip(graph.output, output_names, strict=False)})


def rename_values(model: onnx.ModelProto, mapping: dict[str, str]) -> None:
    """Rename tensors everywhere they appear; a new name that is already taken gets a suffix.

    Recorded source names of renamed outputs (converter.core.output_names) follow their outputs.
    """
    taken = value_names(model.graph)
    final = {}
    for old, new in mapping.items():
        own = old in taken
        taken.discard(old)  # a tensor may keep its own name
        final[old] = unique_name(new, taken)
        if own:
            taken.add(old)
    recorded = recorded_output_names(model)
    if recorded:
        record_output_names(model, {final.get(name, name): source for name, source in recorded.items()})
    for graph in iter_graphs(model.graph):
        for value in (*graph.input, *graph.output, *graph.value_info):
            value.name = final.get(value.name, value.name)
        for tensor in graph.initializer:
            tensor.name = final.get(tensor.name, tensor.name)
        for node in graph.node:
            node.input[:] = [final.get(name, name) for name in node.input]
            node.output[:] = [final.get(name, name) for name in node.output]


def _forget_placeholder_dims(graph: onnx.GraphProto, keep_value_info: bool = False) -> None:
    """Clear made-up unk__N dim names (tf2onnx's, shape inference's): an unknown dim is more honest."""
    for value in (*graph.output, *graph.value_info) if keep_value_info else graph.output:
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and _PLACEHOLDER_DIM.match(dim.dim_param):
                dim.ClearField("dim_param")
    if not keep_value_info:
        del graph.value_info[:]  # exporters' intermediate shapes are re-inferred


def _name_output_batch(graph: onnx.GraphProto) -> None:
    """Give an output's unknown leading dim the inputs' shared leading dim name, so inspect, diff and render
    all say `batch` where inference lost the name (a Reshape to [-1, ...], tf2onnx's unk__N)."""
    leading = {value.type.tensor_type.shape.dim[0].dim_param if value.type.tensor_type.shape.dim else ""
               for value in graph.input}
    if len(leading) != 1 or not (name := leading.pop()):
        return
    for value in graph.output:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value") and not dims[0].dim_param:
            dims[0].dim_param = name


def _outputs_typed(graph: onnx.GraphProto) -> bool:
    """Whether every graph output declares its element type and shape."""
    return all(value.type.tensor_type.elem_type and value.type.tensor_type.HasField("shape") for value in graph.output)


def _may_hold_placeholders(model: onnx.ModelProto) -> bool:
    """A byte search of the serialized model: a 100k-node graph's dims take 15x longer to visit one by one."""
    if model.ByteSize() > onnx.checker.MAXIMUM_PROTOBUF:
        return True
    return b"unk__" in model.SerializeToString()


def _convert_opset(model: onnx.ModelProto, opset: int, origin: str) -> onnx.ModelProto:
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, opset)
    except Exception as error:  # the converter raises bare RuntimeErrors from C++
        raise GraphtoolError(
            f"{origin}: cannot convert from opset {default_opset(model)} to {opset} ({error}); "
            "try another --opset"
        ) from error


def _name_nodes(graph: onnx.GraphProto) -> None:
    seen: set[str] = set()
    for sub in iter_graphs(graph):
        for index, node in enumerate(sub.node):
            name = node.name
            if name and name not in seen:  # the common case, without a write back into the proto
                seen.add(name)
                continue
            node.name = unique_name(name or f"{node.op_type}_{index}", seen)


_RECORDED = frozenset({(SCOPE_KEY, SOURCE_KEY), (SOURCE_KEY, SCOPE_KEY)})


def _record_origin(node: onnx.NodeProto) -> None:
    metadata = node.metadata_props
    count = len(metadata)
    if count == 2:  # most nodes of a normalized model: scope and source, the two keys read without a list
        first, second = metadata[0].key, metadata[1].key
        if (first, second) in _RECORDED:
            return
    if not count:
        props = {}
    else:
        keys = [p.key for p in metadata]  # the keys alone settle the common case, already recorded
        if SCOPE_KEY in keys and (SOURCE_KEY in keys or _TORCH_STACK not in keys):
            return
        props = {p.key: p.value for p in metadata}
    if SCOPE_KEY not in props:
        node.metadata_props.add(key=SCOPE_KEY, value=_scope_of(node, props))
    if SOURCE_KEY not in props and _TORCH_STACK in props:
        location = _user_frame(props[_TORCH_STACK])
        if location:
            node.metadata_props.add(key=SOURCE_KEY, value=location)


def _scope_of(node: onnx.NodeProto, props: dict[str, str]) -> str:
    if _TORCH_SCOPES in props:
        return _scope_from_torch(props[_TORCH_SCOPES])
    # torch's TorchScript exporter names nodes /enc/l/Gemm; tf2onnx keeps TF op names model/dense/MatMul.
    parts = [p for p in node.name.split("/") if p]
    return "/".join(parts[:-1]) if len(parts) > 1 else ""


def _scope_from_torch(text: str) -> str:
    try:
        qualified = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return ""
    # ['', 'enc', 'enc.l', 'linear']: module paths outermost first, then the op itself.
    levels, parent = [], ""
    for name in qualified[1:-1]:
        local = name[len(parent) + 1:] if parent and name.startswith(parent + ".") else name
        levels.append(local)
        parent = name
    return "/".join(levels)


def _user_frame(stack: str) -> str | None:
    frames = _FRAME.findall(stack)
    for filename, line in reversed(frames):  # innermost user frame: the line that made this op
        if f"{os.sep}site-packages{os.sep}" not in filename and "torch" + os.sep not in filename:
            return f"{_display_path(filename)}:{line}"
    return None


def _display_path(filename: str) -> str:
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    if model.ByteSize() > onnx.checker.MAXIMUM_PROTOBUF:
        return model  # in-memory inference cannot serialize it; the exporter's shapes stay
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # inference is best effort: an op it does not know must not block loading
        return model
