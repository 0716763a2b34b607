"""ONNX in int8 with onnxruntime's quantizer: dynamic (weights only) or static (QDQ, calibrated), and which nodes
lose the most in it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from converter.core.atomic import check_writable, move_into_place
from converter.core.errors import GraphtoolError, first_line
from converter.core.precision import LayerError, PrecisionRequest
from converter.core.types import LoadedModel
from converter.targets.precision.layer_errors import layer_errors
from converter.targets.precision.onnx_model import float_model

__all__ = ["DYNAMIC_OPS", "to_int8", "write_int8", "locate_int8"]

# Conv is left out of dynamic int8: onnxruntime's ConvInteger is slower than float Conv on x86; CNNs want --precision
# int8 (static). Gather quantizes embedding tables (the file shrinks; lookups stay exact to the int8 step).
DYNAMIC_OPS = ("MatMul", "Gather")
_QUANTIZED_OPS = frozenset({"MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul", "DynamicQuantizeMatMul",
                            "MatMulIntegerToFloat", "DequantizeLinear"})


class _Batches:
    """onnxruntime's CalibrationDataReader over the request's calibration batches (the graph's inputs only)."""

    def __init__(self, batches: tuple[dict[str, np.ndarray], ...], names: list[str]):
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            [{name: batch[name] for name in names} for batch in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _quantize(source: Path, target: Path, request: PrecisionRequest, names: list[str]) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    excluded = list(request.keep_float)
    if request.precision == "int8-dynamic":
        # QInt8 weights: twice as fast as QUInt8 for MatMulInteger on this x86 (VNNI) CPU, same accuracy.
        # MatMulConstBOnly: attention's activation-by-activation MatMuls stay float (their error, little gain).
        quantize_dynamic(source, target, op_types_to_quantize=list(DYNAMIC_OPS), per_channel=True,
                         weight_type=QuantType.QInt8, nodes_to_exclude=excluded,
                         extra_options={"MatMulConstBOnly": True})
        return
    missing = sorted({name for batch in request.calibration for name in names if name not in batch})
    if missing:
        raise GraphtoolError(f"--calibration: the batches lack the input(s) {', '.join(missing)}; expected every "
                             f"graph input ({', '.join(names)})")
    # QUInt8 activations with QInt8 weights: onnxruntime's advice for x86 with VNNI; QDQ is what its CPU kernels fuse
    quantize_static(source, target, _Batches(request.calibration, names), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=excluded)


def to_int8(model: onnx.ModelProto, request: PrecisionRequest, folder: Path) -> onnx.ModelProto:
    """`model` quantized as request.precision asks, working in `folder` (files onnxruntime's quantizer needs)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if request.precision == "int8" and not request.calibration:
        raise GraphtoolError("--precision int8 needs --calibration DATA.npz (input batches to measure activation "
                             "ranges on); or use --precision int8-dynamic, which needs none")
    names = [value.name for value in model.graph.input if value.name not in {t.name for t in model.graph.initializer}]
    unknown = sorted(set(request.keep_float) - {node.name for node in model.graph.node})
    if unknown:
        raise GraphtoolError(f"--keep-float {', '.join(unknown)}: no node of that name in the model")
    source, prepared, target = folder / "float.onnx", folder / "prepared.onnx", folder / "int8.onnx"
    onnx.save_model(model, str(source))
    try:
        # shape inference only: its optimizer renames and fuses nodes, and keep_float names the float model's nodes
        quant_pre_process(str(source), str(prepared), skip_optimization=True)
        _quantize(prepared, target, request, names)
    except GraphtoolError:
        raise
    except Exception as error:  # the quantizer's own errors, for graphs it cannot handle
        raise GraphtoolError(f"--precision {request.precision}: onnxruntime's quantizer failed: "
                             f"{first_line(error)}") from error
    return onnx.load_model(str(target))


def quantized_nodes(model: onnx.ModelProto) -> int:
    """How many nodes compute in int8: integer kernels, and float nodes reading dequantized (QDQ) values."""
    dequantized = {output for node in model.graph.node if node.op_type == "DequantizeLinear" for output in node.output}
    return sum(node.op_type in _QUANTIZED_OPS - {"DequantizeLinear"}
               or (node.op_type not in _QUANTIZED_OPS | {"QuantizeLinear"} and bool(dequantized & set(node.input)))
               for node in model.graph.node)


def write_int8(loaded: LoadedModel, path: Path, force: bool, request: PrecisionRequest) -> dict:
    """The model quantized to request.precision (int8-dynamic or int8) at `path`, written whole."""
    check_writable(path, force)
    folder = Path(tempfile.mkdtemp(prefix=".graphtool-int8-", dir=path.parent))
    try:
        quantized = to_int8(float_model(loaded, request.precision), request, folder)
        staging = folder / "output.onnx"
        onnx.save_model(quantized, str(staging))
        move_into_place(staging, path, force)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"external_data": None, "precision": request.precision, "kept_float": list(request.keep_float),
            "quantized_nodes": quantized_nodes(quantized)}


def locate_int8(loaded: LoadedModel, request: PrecisionRequest, feeds: dict[str, np.ndarray]) -> list[LayerError]:
    """Each node's error in the int8 build against float32 on `feeds`, the one that introduces the most first.

    Values are compared under the float model's names, which onnxruntime's quantizer keeps for the float result
    of each node it replaces (dynamic); a quantized activation (static) as its readers see it, dequantized.
    """
    reference = float_model(loaded, request.precision)
    folder = Path(tempfile.mkdtemp(prefix="graphtool-int8-"))
    try:
        quantized = to_int8(reference, request, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    made = {output for node in quantized.graph.node for output in node.output}
    dequantized = {name: f"{name}_DequantizeLinear_Output" for node in reference.graph.node for name in node.output
                   if f"{name}_DequantizeLinear_Output" in made}
    return layer_errors(reference, quantized, feeds, request.keep_float, kind="int8", aliases=dequantized)
