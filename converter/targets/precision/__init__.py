"""Low-precision builds of each target: which (target, precision) pairs exist, and how each is built and probed.

Each entry names a module of this package and its functions, imported only when that pair is asked for:
- `write(loaded, path, force, request) -> dict`: the artifact at `path`, as Target.write reports it;
- `locate(loaded, request, feeds) -> list[LayerError]`: each layer's error against the float run on `feeds`,
  the layers worth keeping in float32 first (those in request.keep_float left out);
- optionally `judge(path, loaded, details, request) -> Runner`: what validation runs, where the target's own runner
  (targets.artifacts) is no judge of the precision (onnxruntime's CPU runs float16 nodes in float32).
A pair without an entry is refused by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from converter.core.errors import GraphtoolError
from converter.core.precision import check_precision

__all__ = ["PrecisionBuild", "BUILDS", "REFUSALS", "NATIVE_IO", "build_for"]


@dataclass(frozen=True)
class PrecisionBuild:
    """Where one (target, precision) pair's writer and layer probe live."""

    write: str  # "module:function", the module under converter.targets.precision
    locate: str
    judge: str | None = None  # what validation runs instead of the target's runner, where that is no judge

    def writer(self) -> Callable[..., dict]:
        return _function(self.write)

    def locator(self) -> Callable[..., list]:
        return _function(self.locate)

    def judge_runner(self) -> Callable[..., Any] | None:
        """`judge(path, loaded, details, request) -> Runner`, or None: the target's own runner judges."""
        return _function(self.judge) if self.judge else None


def _function(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


BUILDS: dict[tuple[str, str], PrecisionBuild] = {
    ("onnx", "fp16"): PrecisionBuild("onnx_half:write_half", "onnx_half:locate_half", "onnx_half:judge_half"),
    ("onnx", "bf16"): PrecisionBuild("onnx_half:write_half", "onnx_half:locate_half"),
    ("onnx", "int8-dynamic"): PrecisionBuild("onnx_int8:write_int8", "onnx_int8:locate_int8"),
    ("onnx", "int8"): PrecisionBuild("onnx_int8:write_int8", "onnx_int8:locate_int8"),
    ("tflite", "fp16"): PrecisionBuild("tflite:write_tflite_precision", "tflite:locate_tflite"),
    ("tflite", "int8-dynamic"): PrecisionBuild("tflite:write_tflite_precision", "tflite:locate_tflite"),
    ("tflite", "int8"): PrecisionBuild("tflite:write_tflite_precision", "tflite:locate_tflite"),
    ("savedmodel", "fp16"): PrecisionBuild("tf_half:write_savedmodel_half", "onnx_half:locate_half"),
    ("savedmodel", "bf16"): PrecisionBuild("tf_half:write_savedmodel_half", "onnx_half:locate_half"),
    ("pt2", "fp16"): PrecisionBuild("torch_half:write_pt2_half", "onnx_half:locate_half"),
    ("pt2", "bf16"): PrecisionBuild("torch_half:write_pt2_half", "onnx_half:locate_half"),
}

# torch 2.13 moved export-based (pt2e) quantization to torchao, and eager quantize_dynamic's packed weights
# (LinearPackedParamsBase) cannot be flattened by torch.export.
_PT2E = ("torch's export-based int8 quantization needs torchao, which is not installed, and eager quantize_dynamic "
         "does not survive torch.export")
# Pairs no framework here builds, and what to do instead.
REFUSALS: dict[tuple[str, str], str] = {
    ("tflite", "bf16"): "TFLite's converter has no bfloat16 mode; use --precision fp16 or int8",
    ("savedmodel", "int8-dynamic"): "TensorFlow has no post-training int8 for a SavedModel; use --to tflite "
                                    "--precision int8-dynamic, or --to onnx",
    ("savedmodel", "int8"): "TensorFlow has no post-training int8 for a SavedModel; use --to tflite --precision int8, "
                            "or --to onnx",
    ("pt2", "int8-dynamic"): f"{_PT2E}; use --to onnx --precision int8-dynamic",
    ("pt2", "int8"): f"{_PT2E}; use --to onnx --precision int8",
    ("torchscript", "fp16"): "TorchScript is built in float32 only; use --to pt2 --precision fp16",
    ("torchscript", "bf16"): "TorchScript is built in float32 only; use --to pt2 --precision bf16",
    ("torchscript", "int8-dynamic"): "TorchScript is built in float32 only; use --to onnx --precision int8-dynamic",
    ("torchscript", "int8"): "TorchScript is built in float32 only; use --to onnx --precision int8",
}


# Pairs whose inputs and outputs can be the precision's own (--io-types native): float16/bfloat16, tflite's int8.
NATIVE_IO = {("onnx", "fp16"), ("savedmodel", "fp16"), ("savedmodel", "bf16"), ("pt2", "fp16"), ("pt2", "bf16"),
             ("tflite", "int8")}


def build_for(target: str, precision: str, io_types: str = "float") -> PrecisionBuild:
    """The build of `target` in `precision`, or a one-line refusal saying what to use instead."""
    check_precision(precision)
    if io_types == "native" and (target, precision) in BUILDS and (target, precision) not in NATIVE_IO:
        pairs = ", ".join(f"{t} {p}" for t, p in sorted(NATIVE_IO))
        raise GraphtoolError(f"--io-types native: --to {target} --precision {precision} keeps float inputs and "
                             f"outputs; native I/O exists for {pairs}; drop --io-types")
    if (target, precision) in BUILDS:
        return BUILDS[(target, precision)]
    reason = REFUSALS.get((target, precision), "no build of it exists here")
    raise GraphtoolError(f"--to {target} --precision {precision}: not available: {reason}")
