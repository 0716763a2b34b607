"""The ONNX graph a half-precision SavedModel or pt2 is built from: weights and compute in fp16 or bf16."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from converter.core.errors import GraphtoolError
from converter.core.external_data import tensor_array, uses_external_data
from converter.core.onnx_utils import iter_graphs
from converter.core.precision import PrecisionRequest

__all__ = ["HALF_TYPES", "half_graph", "precision_details"]

HALF_TYPES = {"fp16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16}
# float16's largest finite value; onnxconverter-common clamps weights to 1e4 unless told otherwise.
_FP16_MAX = 65504.0


def half_graph(model: onnx.ModelProto, request: PrecisionRequest) -> onnx.ModelProto:
    """`model` with weights and compute in request.precision, request.keep_float nodes left in float32.

    Inputs and outputs stay float32 unless request.io_types is "native".
    """
    if request.precision not in HALF_TYPES:
        raise GraphtoolError(f"--precision {request.precision}: a half-precision build takes "
                             f"{' or '.join(HALF_TYPES)}")
    _check_kept(model, request.keep_float)
    return _to_half(_inline_weights(model), request.precision, request.keep_float,
                    keep_io_types=request.io_types != "native")


def precision_details(request: PrecisionRequest) -> dict:
    """What a half build adds to its target's details."""
    return {"precision": request.precision, "io_types": request.io_types, "kept_float": list(request.keep_float)}


def _to_half(model: onnx.ModelProto, precision: str, keep_float: tuple[str, ...],
             keep_io_types: bool = True) -> onnx.ModelProto:
    """onnxconverter-common's float16 conversion, retyped to bfloat16 for bf16 (the swap point for onnx_half)."""
    from onnxconverter_common.float16 import convert_float_to_float16

    with warnings.catch_warnings():  # one warning per weight clamped into float16's range: thousands on a big model
        warnings.filterwarnings("ignore", message="the float32 number", category=UserWarning)
        half = convert_float_to_float16(model, max_finite_val=_FP16_MAX, keep_io_types=keep_io_types,
                                        node_block_list=list(keep_float))
    return _as_bfloat16(half, model) if precision == "bf16" else half


def _as_bfloat16(half: onnx.ModelProto, source: onnx.ModelProto) -> onnx.ModelProto:
    """Every float16 type, Cast target and value in `half` as bfloat16; weights rounded from `source`'s float32."""
    originals = {init.name: init for init in source.graph.initializer if init.data_type == TensorProto.FLOAT}
    for graph in iter_graphs(half.graph):
        for init in graph.initializer:
            if init.data_type == TensorProto.FLOAT16:
                init.CopyFrom(_bfloat16(originals.get(init.name, init), init.name))
        for node in graph.node:
            for attribute in node.attribute:
                if node.op_type == "Cast" and attribute.name == "to" and attribute.i == TensorProto.FLOAT16:
                    attribute.i = TensorProto.BFLOAT16
                elif attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == TensorProto.FLOAT16:
                    attribute.t.CopyFrom(_bfloat16(attribute.t, attribute.t.name))
        for info in (*graph.input, *graph.output, *graph.value_info):
            if info.type.tensor_type.elem_type == TensorProto.FLOAT16:
                info.type.tensor_type.elem_type = TensorProto.BFLOAT16
    return half


def _bfloat16(tensor: onnx.TensorProto, name: str) -> onnx.TensorProto:
    import ml_dtypes

    array = numpy_helper.to_array(tensor).astype(np.float32).astype(ml_dtypes.bfloat16)
    return numpy_helper.from_array(array, name)


def _inline_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with external initializers read in (the half copy is what the writer needs in memory)."""
    if not uses_external_data(model):
        return model
    inline = onnx.ModelProto()
    inline.CopyFrom(model)
    for init in inline.graph.initializer:
        if init.data_location == TensorProto.EXTERNAL:
            init.CopyFrom(numpy_helper.from_array(np.asarray(tensor_array(init)), init.name))
    return inline


def _check_kept(model: onnx.ModelProto, keep_float: tuple[str, ...]) -> None:
    names = {node.name for graph in iter_graphs(model.graph) for node in graph.node}
    unknown = [name for name in keep_float if name not in names]
    if unknown:
        known = ", ".join(repr(name) for name in [node.name for node in model.graph.node if node.name][:3])
        raise GraphtoolError(f"keep in float32: no ONNX node named {', '.join(map(repr, unknown))}; expected the "
                             f"ONNX graph's node names (such as {known})")
