"""KServe's layout: a model folder its serving runtime reads, and an InferenceService YAML that points at it."""

from __future__ import annotations

import json
from pathlib import Path

from converter.core.atomic import atomic_path
from converter.core.config import read_config
from converter.deploy import triton
from converter.deploy.package import Layout, PackageContext

__all__ = ["LAYOUT", "inference_service", "PRECISION_ANNOTATION"]

PRECISION_ANNOTATION = "graphtool/precision"

# format -> (KServe modelFormat, the runtime that serves it): Triton's layout serves ONNX and TorchScript
RUNTIMES = {"onnx": ("onnx", "kserve-tritonserver"), "torchscript": ("pytorch", "kserve-tritonserver"),
            "savedmodel": ("tensorflow", "kserve-tensorflow-serving")}


def inference_service(name: str, fmt: str, storage_uri: str, precision: str = "float32") -> str:
    """The InferenceService manifest, v1beta1, with the matching runtime and the v2 protocol where it speaks it;
    a low-precision model's precision is an annotation."""
    model_format, runtime = RUNTIMES[fmt]
    protocol = "v1" if fmt == "savedmodel" else "v2"
    # a JSON string is a YAML double-quoted scalar: the line's commas and parentheses need no other escaping
    annotation = "" if precision == "float32" else \
        f"  annotations:\n    {PRECISION_ANNOTATION}: {json.dumps(precision)}\n"
    return (
        "apiVersion: serving.kserve.io/v1beta1\n"
        "kind: InferenceService\n"
        f"metadata:\n  name: {name}\n{annotation}"
        "spec:\n  predictor:\n    model:\n"
        f"      modelFormat:\n        name: {model_format}\n"
        f"      runtime: {runtime}\n"
        f"      protocolVersion: {protocol}\n"
        f"      storageUri: {storage_uri}\n"
    )


def _plan(output: Path, name: str, version: int | None, force: bool) -> int:
    # the manifest is regenerated for each new version; an existing version needs --force, as for Triton
    return triton.LAYOUT.plan(output, name, version, force)


def _write(context: PackageContext) -> dict:
    if context.format == "savedmodel":  # TF Serving's layout, one version folder per model
        from converter.deploy import tfserving

        details = tfserving.LAYOUT.write(context)
    else:
        details = triton.LAYOUT.write(context)
    path = context.output / f"{context.name}.yaml"
    uri = f"pvc://models/{context.name}" if context.format == "savedmodel" else "pvc://models"
    with atomic_path(path, force=True) as temporary:
        temporary.write_text(inference_service(context.name, context.format, uri, context.precision))
    manifest = read_config(path)
    fmt = manifest["spec"]["predictor"]["model"]["modelFormat"]["name"]
    details["check"]["manifest"] = [] if fmt == RUNTIMES[context.format][0] else [f"modelFormat {fmt}"]
    return {**details, "manifest": str(path),
            "note": "copy the model folder to the storage the storageUri names (a PVC 'models' by default)"}


LAYOUT = Layout("kserve", ("onnx", "torchscript", "savedmodel"), _plan, _write)
