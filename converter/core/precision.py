"""What precision an artifact is built in: the names the CLI and manifests know, and what one build is asked."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from converter.core.errors import GraphtoolError

if TYPE_CHECKING:
    import numpy as np
    import onnx

__all__ = ["PRECISIONS", "IO_TYPES", "BUDGETS", "PrecisionRequest", "LayerError", "check_precision",
           "model_precision", "COMPUTES_IN", "classifier_outputs"]

# fp32 is the float artifact every other precision is measured against.
PRECISIONS = ("fp32", "fp16", "bf16", "int8-dynamic", "int8")
# float: inputs and outputs stay float32 whatever is inside; native: the precision's own (fp16, int8) where the
# format allows it.
IO_TYPES = ("float", "native")
# fixed: build what was asked and judge it; auto: keep the fewest layers in float32 until the budget holds.
BUDGETS = ("fixed", "auto")


@dataclass(frozen=True)
class PrecisionRequest:
    """One low-precision build: the precision, its I/O types, calibration batches and the layers kept in float32."""

    precision: str = "fp32"
    io_types: str = "float"
    calibration: tuple[dict[str, np.ndarray], ...] = ()  # batches: input name -> array (static int8)
    keep_float: tuple[str, ...] = ()  # layer names (ONNX node names; TFLite: the debugger's tensor names)

    @property
    def is_float(self) -> bool:
        return self.precision == "fp32"

    def keeping(self, *names: str) -> PrecisionRequest:
        """The same request with `names` also kept in float32."""
        return PrecisionRequest(self.precision, self.io_types, self.calibration,
                                tuple(dict.fromkeys((*self.keep_float, *names))))

    def to_dict(self) -> dict:
        return {"precision": self.precision, "io_types": self.io_types, "calibration_batches": len(self.calibration),
                "keep_float": list(self.keep_float)}


@dataclass(frozen=True)
class LayerError:
    """How far one layer's output in the low-precision build is from the float run, on the same inputs.

    `error` is the layer output's own error (relative RMS, inf where it overflowed); `introduced` the part of it
    that the layer adds to what its inputs already carried: what ranks the layers worth keeping in float32.
    """

    name: str
    op_type: str
    error: float
    introduced: float
    detail: str = ""  # e.g. "overflows float16: max |x| 1.2e+05"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "op_type": self.op_type, "error": self.error, "introduced": self.introduced,
                "detail": self.detail}


def check_precision(precision: str, where: str = "--precision") -> str:
    """`precision`, or a one-line GraphtoolError naming the ones there are."""
    if precision not in PRECISIONS:
        raise GraphtoolError(f"{where} {precision}: expected one of {', '.join(PRECISIONS)}")
    return precision


# What a model of each precision computes in, as a report says it.
COMPUTES_IN = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16",
               "int8-dynamic": "int8 (activations quantized at run time)", "int8": "int8"}
_DYNAMIC_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"})
_INT8_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "ConvInteger", "MatMulInteger"})
_FLOAT_TYPES = {1: "fp32", 10: "fp16", 11: "fp64", 16: "bf16"}  # TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16


def model_precision(model: onnx.ModelProto) -> str:
    """What an ONNX model computes in, from its ops (quantization) and its float weights' types (the type holding
    most of their bytes): one of PRECISIONS. Reads no weight data."""
    from converter.core.onnx_utils import element_size, iter_graphs  # numpy and onnx: not on --version's path

    graphs = list(iter_graphs(model.graph))
    ops = {node.op_type for graph in graphs for node in graph.node}
    if ops & _DYNAMIC_OPS:
        return "int8-dynamic"
    if ops & _INT8_OPS or any(op.startswith("QLinear") for op in ops):
        return "int8"
    weight_bytes = dict.fromkeys(_FLOAT_TYPES.values(), 0)
    for graph in graphs:
        for tensor in graph.initializer:
            if tensor.data_type in _FLOAT_TYPES:
                weight_bytes[_FLOAT_TYPES[tensor.data_type]] += math.prod(tensor.dims) * element_size(tensor.data_type)
    heaviest = max(weight_bytes, key=weight_bytes.__getitem__)
    return heaviest if heaviest in ("fp16", "bf16") and weight_bytes[heaviest] else "fp32"


# What makes a [batch, N] output class scores, judged by agreeing decisions (argmax) in int8: the op that makes it
# (through ops that only move or retype values), or its name; an embedding's name says it is none.
_SCORE_OPS = {"Gemm", "MatMul", "Add", "Softmax", "LogSoftmax"}
_PASS_THROUGH = {"Identity", "Reshape", "Flatten", "Squeeze", "Cast", "DequantizeLinear"}
_SCORE_WORDS = ("logit", "prob", "score", "class", "pred")
_EMBEDDING_WORDS = ("embed", "hidden", "pool", "feature", "state", "vector")


def classifier_outputs(model: onnx.ModelProto) -> frozenset[str]:
    """The outputs holding class scores ([batch, classes] made by a final linear layer or a softmax, or named as
    scores), by their ONNX and their source names: a tanh pooler or an embedding of that shape is not one."""
    from converter.core.output_names import source_output_names

    producers = {out: node for node in model.graph.node for out in node.output}
    found: set[str] = set()
    for output, name in zip(model.graph.output, source_output_names(model), strict=True):
        dims = output.type.tensor_type.shape.dim
        if len(dims) != 2 or (dims[1].HasField("dim_value") and dims[1].dim_value < 2):
            continue
        words = f"{output.name} {name}".lower()
        if any(word in words for word in _EMBEDDING_WORDS):
            continue
        node = producers.get(output.name)
        while node is not None and node.op_type in _PASS_THROUGH and node.input:
            node = producers.get(node.input[0])
        if any(word in words for word in _SCORE_WORDS) or (node is not None and node.op_type in _SCORE_OPS):
            found.update((output.name, name))
    return frozenset(found)
