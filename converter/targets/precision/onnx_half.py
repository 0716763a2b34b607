"""ONNX in float16 or bfloat16: the converted graph, its file, and which nodes lose the most in it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from converter.core.errors import GraphtoolError
from converter.core.onnx_utils import graph_inputs, iter_graphs, unique_name
from converter.core.precision import LayerError, PrecisionRequest
from converter.core.runners import Runner, ort_runner
from converter.core.types import LoadedModel
from converter.targets.precision.layer_errors import layer_errors
from converter.targets.precision.onnx_model import PROTOBUF_LIMIT, float_model, named_nodes, save_atomic

__all__ = ["HALF_TYPES", "ORT_CPU_NO_FLOAT16", "ORT_CPU_NO_BFLOAT16", "to_half", "write_half", "locate_half",
           "emulate_half"]

HALF_TYPES = {"fp16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16}
_LARGEST = {"fp16": float(np.finfo(np.float16).max), "bf16": 3.3895313892515355e38}
_KIND = {"fp16": "float16", "bf16": "bfloat16"}

# Ops onnxruntime's CPU provider cannot run in float16. None: for a float16 node without a CPU kernel (Conv,
# MatMul, Softmax, ... on x86) onnxruntime inserts Casts to float32 around it itself (its InsertCastTransformer),
# so every op onnxconverter-common converts runs; tests/targets/test_onnx_precision.py checks common ops.
ORT_CPU_NO_FLOAT16: tuple[str, ...] = ()
# onnxruntime 1.32's CPU provider runs bfloat16 for a handful of ops only (LayerNormalization, Clip, data
# movement); these common ones have no kernel, so a bfloat16 ONNX graph of them does not load.
ORT_CPU_NO_BFLOAT16 = ("Add", "Conv", "Gemm", "MatMul", "Mul", "Relu", "Softmax")


def to_half(model: onnx.ModelProto, precision: str, keep_float: Sequence[str] = (),
            keep_io_types: bool = True) -> onnx.ModelProto:
    """A copy of `model` computing in float16 or bfloat16, the nodes named in `keep_float` in float32.

    bfloat16 is built as the float16 graph retyped, its weights rounded from the float32 originals.
    """
    from onnxconverter_common import float16

    if model.ByteSize() >= PROTOBUF_LIMIT:
        raise GraphtoolError(f"--precision {precision}: the model is over the 2 GB onnxconverter-common converts "
                             "in memory; build it in fp32")
    model = named_nodes(model)
    if keep_io_types:
        model = _outputs_apart(model)
    unknown = sorted(set(keep_float) - {node.name for node in model.graph.node})
    if unknown:
        raise GraphtoolError(f"--keep-float {', '.join(unknown)}: no node of that name in the model")
    with warnings.catch_warnings():  # it warns for each weight it clamps; the clamp is to the type's range here
        warnings.simplefilter("ignore")
        half = float16.convert_float_to_float16(
            model, min_positive_val=float(np.finfo(np.float16).smallest_subnormal), max_finite_val=_LARGEST["fp16"],
            keep_io_types=keep_io_types, op_block_list=[*float16.DEFAULT_OP_BLOCK_LIST, *ORT_CPU_NO_FLOAT16],
            node_block_list=list(keep_float))
    return _as_bfloat16(half, model) if precision == "bf16" else half


def _outputs_apart(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model`, or a copy where each graph output that nodes also read is an Identity of the value they read.

    With keep_io_types, onnxconverter-common casts such an output to float32 in place, and the nodes reading it
    then get float32 where their types say float16 (BERT's pooler reads last_hidden_state): the file won't load.
    """
    read = {name for node in model.graph.node for name in node.input}
    produced = {name for node in model.graph.node for name in node.output}
    shared = [value.name for value in model.graph.output if value.name in read and value.name in produced]
    if not shared:
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    taken = produced | read | {node.name for node in copy.graph.node}
    inner = {name: unique_name(f"{name}_inner", taken) for name in shared}
    for node in copy.graph.node:
        node.input[:] = [inner.get(name, name) for name in node.input]
        node.output[:] = [inner.get(name, name) for name in node.output]
    for value in copy.graph.value_info:
        value.name = inner.get(value.name, value.name)
    copy.graph.node.extend(onnx.helper.make_node("Identity", [inner[name]], [name],
                                                 name=unique_name(f"{name}_output", taken)) for name in shared)
    return copy


def _as_bfloat16(half: onnx.ModelProto, original: onnx.ModelProto) -> onnx.ModelProto:
    """The float16 graph with every float16 type made bfloat16; weights and constants rounded from float32."""
    import ml_dtypes

    floats = {tensor.name: tensor for graph in iter_graphs(original.graph) for tensor in graph.initializer}
    constants = {node.name: node for node in original.graph.node}

    def retype(tensor: TensorProto, source: TensorProto | None) -> None:
        if tensor.data_type != TensorProto.FLOAT16:
            return
        values = numpy_helper.to_array(source if source is not None else tensor).astype(np.float32)
        tensor.CopyFrom(numpy_helper.from_array(values.astype(ml_dtypes.bfloat16), tensor.name))

    for graph in iter_graphs(half.graph):
        for tensor in graph.initializer:
            retype(tensor, floats.get(tensor.name))
        for value in (*graph.input, *graph.output, *graph.value_info):
            if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
                value.type.tensor_type.elem_type = TensorProto.BFLOAT16
        for node in graph.node:
            twin = constants.get(node.name)
            for attribute in node.attribute:
                if node.op_type == "Cast" and attribute.name == "to" and attribute.i == TensorProto.FLOAT16:
                    attribute.i = TensorProto.BFLOAT16
                source = next((a.t for a in twin.attribute if a.name == attribute.name), None) if twin else None
                if attribute.HasField("t"):
                    retype(attribute.t, source)
                for tensor in attribute.tensors:
                    retype(tensor, None)
    return half


def _check_runs(precision: str) -> None:
    if precision == "bf16":
        raise GraphtoolError(
            "--to onnx --precision bf16: onnxruntime's CPU provider has no bfloat16 kernel for "
            f"{', '.join(ORT_CPU_NO_BFLOAT16)}, so the file could not be run or validated here; use --precision "
            "fp16, or --to pt2 --precision bf16")


def write_half(loaded: LoadedModel, path: Path, force: bool, request: PrecisionRequest) -> dict:
    """The model in request.precision (fp16; bf16 is refused: nothing here runs it) at `path`, written whole."""
    _check_runs(request.precision)
    half = to_half(float_model(loaded, request.precision), request.precision, request.keep_float,
                   keep_io_types=request.io_types == "float")
    save_atomic(half, path, force)
    return {"external_data": None, "precision": request.precision, "kept_float": list(request.keep_float)}


def locate_half(loaded: LoadedModel, request: PrecisionRequest, feeds: dict[str, np.ndarray]) -> list[LayerError]:
    """Each node's error in the half build against float32 on `feeds`, an overflow first, then the most introduced.

    The build compared is its emulation (emulate_half): onnxruntime's CPU runs a float16 file partly in float32
    and bfloat16 not at all.
    """
    reference = float_model(loaded, request.precision)
    build = emulate_half(reference, request.precision, request.keep_float)
    return layer_errors(reference, build, feeds, request.keep_float, limit=_LARGEST[request.precision],
                        kind=_KIND[request.precision])


def emulate_half(model: onnx.ModelProto, precision: str, keep_float: Sequence[str] = ()) -> onnx.ModelProto:
    """A float32 copy of `model` that rounds weights and values to float16 or bfloat16 as a half build holds them.

    Each node computes in float32 and its output is rounded, as GPUs run half graphs (float32 accumulation,
    half storage); float16 overflows to inf. Values stay float32 only where a kept node makes them and only kept
    nodes read them; weights stay float32 where a kept node reads them. onnxruntime's CPU provider is no judge
    of this: it runs float16 nodes it has no kernel for, and their neighbours, in float32.
    """
    import ml_dtypes

    kept = set(keep_float)
    half_type = {"fp16": np.float16, "bf16": ml_dtypes.bfloat16}[precision]
    inferred = onnx.shape_inference.infer_shapes(model)
    floats = {value.name for value in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output)
              if value.type.tensor_type.elem_type == TensorProto.FLOAT}
    read_by_kept = {name for node in model.graph.node if node.name in kept for name in node.input}
    read_by_half = {name for node in model.graph.node if node.name not in kept for name in node.input}
    graph = onnx.GraphProto()
    graph.CopyFrom(model.graph)
    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT and tensor.name not in read_by_kept:
            rounded = numpy_helper.to_array(tensor).astype(half_type).astype(np.float32)
            tensor.CopyFrom(numpy_helper.from_array(rounded, tensor.name))
    del graph.node[:]
    rounded_inputs = {value.name: f"{value.name}_{precision}" for value in graph_inputs(model.graph)
                      if value.name in floats and value.name in read_by_half}
    for name, rounded in rounded_inputs.items():
        graph.node.extend(_rounding(name, rounded, HALF_TYPES[precision]))
    for node in model.graph.node:
        copy = graph.node.add()
        copy.CopyFrom(node)
        for index, name in enumerate(node.input):
            copy.input[index] = rounded_inputs.get(name, name)
        for index, name in enumerate(node.output):
            if name in floats and (node.name not in kept or name in read_by_half):
                copy.output[index] = f"{name}_{precision}_raw"
                graph.node.extend(_rounding(copy.output[index], name, HALF_TYPES[precision]))
    emulation = onnx.helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    emulation.functions.extend(model.functions)
    return emulation


def _rounding(source: str, target: str, half: int) -> list[onnx.NodeProto]:
    """Cast to the half type and back: `target` is `source` rounded, in float32."""
    middle = f"{target}_rounded"
    return [onnx.helper.make_node("Cast", [source], [middle], name=f"round_{target}", to=half),
            onnx.helper.make_node("Cast", [middle], [target], name=f"unround_{target}", to=TensorProto.FLOAT)]


def judge_half(path: Path, loaded: LoadedModel, details: dict, request: PrecisionRequest) -> Runner:
    """What validation runs for a half ONNX file: the file itself must load and run in onnxruntime, and the answers
    judged are its emulation's (emulate_half), rounded as half hardware rounds; onnxruntime's CPU provider would
    answer for this file from float32 kernels, and pass a graph that overflows float16."""
    model = onnx.load_model(str(path))
    written = ort_runner(model, folder=path.parent)
    file_types = {value.name: value.type.tensor_type.elem_type for value in graph_inputs(model.graph)}
    emulated = ort_runner(emulate_half(float_model(loaded, request.precision), request.precision, request.keep_float))

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        written.run({name: _as_type(array, file_types.get(name)) for name, array in feeds.items()})
        return emulated.run(feeds)

    return Runner(f"onnxruntime, {request.precision} emulated (each value rounded)", "cpu", run)


def _as_type(array: np.ndarray, elem_type: int | None) -> np.ndarray:
    """A float32 feed in the file's own input type (float16 where its I/O is native)."""
    if elem_type == TensorProto.FLOAT16 and array.dtype == np.float32:
        return array.astype(np.float16)
    return array
