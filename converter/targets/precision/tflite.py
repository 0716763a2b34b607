"""TFLite in fp16, dynamic-range int8 or calibrated int8; TFLite's quantization debugger ranks the int8 layers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from converter.core.errors import GraphtoolError
from converter.core.frameworks import quiet
from converter.core.inputs import InputSpec, graph_input_specs
from converter.core.precision import LayerError, PrecisionRequest
from converter.core.types import LoadedModel
from converter.targets.tflite import staged_savedmodel, write_tflite

__all__ = ["write_tflite_precision", "locate_tflite"]

PRECISIONS = ("fp16", "int8-dynamic", "int8")
INT8_ONLY = "int8 builtins only"
FLOAT_FALLBACK = "int8 builtins with float fallback"


def write_tflite_precision(loaded: LoadedModel, path: str | Path, force: bool, request: PrecisionRequest) -> dict:
    """`loaded` as a .tflite file in request.precision: the float writer's details plus how it was quantized.

    int8 with io_types "native" takes and gives int8 tensors; "input_quantization"/"output_quantization" give each
    signature key's (scale, zero_point), which the tflite runner applies to run it from float feeds.
    """
    specs = _check(loaded, request)
    path = Path(path)
    with staged_savedmodel(loaded.model, path.parent) as saved:
        quantize = _Quantize(request, specs, saved.inputs)
        written = write_tflite(saved.directory, path, force=force, build=quantize)
        details = {**saved.to_dict(), **written.to_dict()}
    return {**details, "precision": request.precision, "io_types": request.io_types,
            "kept_float": list(request.keep_float), "ops": quantize.ops, **_io_quantization(path)}


def locate_tflite(loaded: LoadedModel, request: PrecisionRequest, feeds: Mapping[str, np.ndarray]) -> list[LayerError]:
    """Each int8 layer's error on `feeds`, from TFLite's QuantizationDebugger, the worst first.

    The debugger runs each float op on the same (dequantized) int8 inputs as its int8 kernel, so a layer's error is
    what it introduces: `error` and `introduced` are both its relative RMS error, sqrt(MSE) / RMS of the float output.
    Names are the tensor names that `keep_float` (the debugger's denylisted_nodes) takes. fp16 and int8-dynamic
    builds keep float activations, which the debugger cannot instrument: they give an empty list.
    """
    specs = _check(loaded, request)
    if request.precision != "int8":
        return []
    tf = _tensorflow()
    with staged_savedmodel(loaded.model) as saved, quiet():
        converter = _converter(tf, saved.directory)
        float_io = PrecisionRequest("int8", "float", request.calibration, request.keep_float)
        _Quantize(float_io, specs, saved.inputs).prepare(tf, converter)
        debug_model = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=_no_examples,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(
                denylisted_nodes=list(request.keep_float) or None),
        ).get_debug_quantized_model()
    keys = _signature_order(tf, debug_model)
    examples = [{saved.inputs[name]: value for name, value in example.items()} for example in _examples(feeds, specs)]
    with quiet():  # the interpreter's deprecation and preserve_all_tensors warnings
        debugger = tf.lite.experimental.QuantizationDebugger(
            quant_debug_model_content=debug_model,
            debug_dataset=lambda: ([example[key] for key in keys] for example in examples),
            debug_options=tf.lite.experimental.QuantizationDebugOptions(layer_direct_compare_metrics={
                "squared_error": _squared_error, "float_square": _float_square}),
        )
        debugger.run()
    return _ranked(debugger, set(request.keep_float))


def _check(loaded: LoadedModel, request: PrecisionRequest) -> list[InputSpec]:
    """The model's inputs, for a request this target can build; or a one-line GraphtoolError."""
    if request.precision not in PRECISIONS:
        raise GraphtoolError(f"--to tflite --precision {request.precision}: expected one of {', '.join(PRECISIONS)}")
    if request.precision == "int8" and not request.calibration:
        raise GraphtoolError("--precision int8 needs --calibration DATA.npz: static int8 fixes every activation's "
                             "range from typical inputs (a few hundred); pass them, or use --precision int8-dynamic")
    if request.io_types == "native" and request.precision != "int8":
        raise GraphtoolError(f"--io-types native: TFLite's {request.precision} build keeps float32 inputs and "
                             "outputs; use --io-types float, or --precision int8")
    if request.keep_float and request.precision != "int8":
        raise GraphtoolError(f"keeping layers in float32 ({', '.join(request.keep_float)}): TFLite does it only in "
                             f"a --precision int8 build, not {request.precision}")
    specs = graph_input_specs(loaded.model)
    for index, batch in enumerate(request.calibration):
        missing = [spec.name for spec in specs if spec.name not in batch]
        if missing:
            raise GraphtoolError(f"--calibration: batch {index} lacks the model input(s) {', '.join(missing)}; "
                                 f"expected arrays named {', '.join(spec.name for spec in specs)}")
    return specs


class _Quantize:
    """Sets a TFLiteConverter's quantization options and converts; `ops` says which int8 op set the model got."""

    def __init__(self, request: PrecisionRequest, specs: list[InputSpec], signature_keys: Mapping[str, str]) -> None:
        self.request = request
        self.specs = specs
        self.keys = dict(signature_keys)  # graph input name -> signature key
        self.ops = INT8_ONLY if request.precision == "int8" else "float builtins"

    def __call__(self, converter: Any) -> bytes:
        tf = _tensorflow()
        self.prepare(tf, converter)
        if self.request.precision != "int8":
            return converter.convert()
        if self.request.keep_float:
            self.ops = FLOAT_FALLBACK
            return self._selective(tf, converter)
        given = list(converter.target_spec.supported_ops)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               *(ops for ops in given if ops == tf.lite.OpsSet.SELECT_TF_OPS)]
        try:
            return converter.convert()
        except Exception:  # noqa: BLE001 - an op without an int8 kernel: TFLiteConverter raises ConverterError
            converter.target_spec.supported_ops = given
            self.ops = FLOAT_FALLBACK
            return converter.convert()

    def prepare(self, tf: Any, converter: Any) -> None:
        """The converter options of this precision."""
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.request.precision == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if self.request.precision == "int8":
            converter.representative_dataset = self._calibration
            if self.request.io_types == "native":
                converter.inference_input_type = converter.inference_output_type = tf.int8

    def _calibration(self) -> Iterator[dict[str, np.ndarray]]:
        """One example at a time (or the model's fixed batch), by signature key, as TFLite's calibrator takes them."""
        for batch in self.request.calibration:
            for example in _examples(batch, self.specs):
                yield {self.keys[name]: value for name, value in example.items()}

    def _selective(self, tf: Any, converter: Any) -> bytes:
        """int8 with request.keep_float left in float32: the debugger's selective quantization (denylisted_nodes)."""
        native = self.request.io_types == "native"
        with quiet():
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=_no_examples,
                debug_options=tf.lite.experimental.QuantizationDebugOptions(
                    denylisted_nodes=list(self.request.keep_float), fully_quantize=native))
            return debugger.get_nondebug_quantized_model()


def _examples(batch: Mapping[str, np.ndarray], specs: list[InputSpec]) -> Iterator[dict[str, np.ndarray]]:
    """The model's inputs in `batch` split along the batch axis: one example each, or the model's fixed batch size."""
    arrays = {spec.name: np.asarray(batch[spec.name], dtype=spec.dtype) for spec in specs}
    fixed = [spec.dims[0] for spec in specs if spec.dims and isinstance(spec.dims[0], int)]
    step = fixed[0] if fixed else 1
    count = min((len(value) for value in arrays.values() if value.ndim), default=step)
    for start in range(0, count - step + 1, step):
        yield {name: value[start:start + step] if value.ndim else value for name, value in arrays.items()}


def _no_examples() -> Iterator[list[np.ndarray]]:
    return iter(())


def _squared_error(float_value: np.ndarray, quantized: np.ndarray, scale: float, zero_point: int) -> float:
    dequantized = (quantized.astype(np.float32) - zero_point) * scale
    return float(np.mean(np.square(float_value.astype(np.float64) - dequantized)))


def _float_square(float_value: np.ndarray, quantized: np.ndarray, scale: float, zero_point: int) -> float:
    return float(np.mean(np.square(float_value.astype(np.float64))))


def _ranked(debugger: Any, kept: set[str]) -> list[LayerError]:
    """The debugger's layer statistics (its CSV dump, which names each layer's tensor) as LayerErrors, worst first."""
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    layers = []
    for row in csv.DictReader(dump):
        if row["tensor_name"] in kept:
            continue
        squared, power = float(row["squared_error"]), float(row["float_square"])
        error = float(np.sqrt(squared / power)) if power > 0 else (0.0 if squared == 0 else float("inf"))
        scale = float(row["scale"])
        layers.append(LayerError(
            name=row["tensor_name"], op_type=row["op_name"], error=error, introduced=error,
            detail=f"RMS error {np.sqrt(squared):.3g} = {np.sqrt(squared) / scale:.2f} int8 steps",
            extra={"scale": scale, "zero_point": int(float(row["zero_point"])),
                   **{key: float(row[key]) for key in ("num_elements", "stddev", "mean_error", "max_abs_error",
                                                       "mean_squared_error")}}))
    return sorted(layers, key=lambda layer: layer.introduced, reverse=True)


def _signature_order(tf: Any, flatbuffer: bytes) -> list[str]:
    """The serving signature's input keys in the order of the interpreter's input tensors (what the debugger feeds)."""
    from converter.targets.savedmodel import SIGNATURE_KEY

    with quiet():
        details = tf.lite.Interpreter(model_content=flatbuffer).get_signature_runner(SIGNATURE_KEY).get_input_details()
    return sorted(details, key=lambda key: details[key]["index"])


def _io_quantization(path: Path) -> dict[str, dict[str, list[float]]]:
    """Each quantized input and output's signature key -> [scale, zero_point]; empty for float I/O."""
    from converter.targets.runners import quantized_io

    inputs, outputs = quantized_io(path)
    if not inputs and not outputs:
        return {}
    return {"input_quantization": {key: [scale, zero_point] for key, (scale, zero_point, _) in inputs.items()},
            "output_quantization": {key: [scale, zero_point] for key, (scale, zero_point, _) in outputs.items()}}


def _converter(tf: Any, saved_model: str) -> Any:
    from converter.targets.savedmodel import SIGNATURE_KEY

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=[SIGNATURE_KEY])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def _tensorflow() -> Any:
    from converter.targets.tf import require_tensorflow

    return require_tensorflow()
