"""The ONNX graph a half-precision SavedModel or pt2 is built from: weights and compute in fp16 or bf16."""

from __future__ import annotations

import onnx

from converter.core.errors import GraphtoolError
from converter.core.precision import PrecisionRequest
from converter.core.types import LoadedModel
from converter.targets.precision.onnx_half import HALF_TYPES, to_half
from converter.targets.precision.onnx_model import float_model

__all__ = ["half_graph", "precision_details"]


def half_graph(loaded: LoadedModel, request: PrecisionRequest) -> onnx.ModelProto:
    """The loaded model with weights and compute in request.precision (onnx_half.to_half), request.keep_float nodes
    left in float32; inputs and outputs stay float32 unless request.io_types is "native"."""
    if request.precision not in HALF_TYPES:
        raise GraphtoolError(f"--precision {request.precision}: a half-precision build takes "
                             f"{' or '.join(HALF_TYPES)}")
    return to_half(float_model(loaded, request.precision), request.precision, request.keep_float,
                   keep_io_types=request.io_types != "native")


def precision_details(request: PrecisionRequest) -> dict:
    """What a half build adds to its target's details."""
    return {"precision": request.precision, "io_types": request.io_types, "kept_float": list(request.keep_float)}
