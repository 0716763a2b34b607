"""Triton's model repository: NAME/config.pbtxt and NAME/N/model.*, read back with tritonclient's ModelConfig."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from converter.core.atomic import atomic_path
from converter.core.errors import GraphtoolError, MissingExtraError, first_line
from converter.deploy.interface import TRITON_DTYPES, Interface
from converter.deploy.package import Layout, PackageContext, check_outputs
from converter.deploy.served import INTERFACE_FILE, load_served
from converter.deploy.tfserving import plan_version, versions_in

__all__ = ["LAYOUT", "model_config", "config_text", "precision_comment", "read_config", "PLATFORMS", "FILES"]

PLATFORMS = {"onnx": "onnxruntime_onnx", "torchscript": "pytorch_libtorch", "savedmodel": "tensorflow_savedmodel"}
FILES = {"onnx": "model.onnx", "torchscript": "model.pt", "savedmodel": "model.savedmodel"}
MAX_BATCH = 8


def model_config(name: str, fmt: str, interface: Interface, versions: list[int]):
    """Triton's ModelConfig: platform, batching, tensors (libtorch's INPUT__i names), kept versions, CPU instances."""
    pb = _protos()
    batch = MAX_BATCH if interface.batched() else 0
    config = pb.ModelConfig(name=name, platform=PLATFORMS[fmt], max_batch_size=batch)
    for kind, specs, tensors in (("input", interface.inputs, config.input),
                                 ("output", interface.outputs, config.output)):
        for index, spec in enumerate(specs):
            tensors.add(name=f"{kind.upper()}__{index}" if fmt == "torchscript" else spec.name,
                        data_type=pb.DataType.Value(TRITON_DTYPES[spec.dtype]),
                        dims=spec.shape[1:] if batch else spec.shape)
    config.version_policy.specific.versions.extend(versions)
    config.instance_group.add(kind=pb.ModelInstanceGroup.KIND_CPU, count=1)
    if batch:
        config.dynamic_batching.max_queue_delay_microseconds = 100
    return config


def config_text(name: str, fmt: str, interface: Interface, versions: list[int]) -> str:
    """config.pbtxt: model_config in protobuf text format (a max_batch_size of 0 is proto3's default, left out)."""
    from google.protobuf import text_format

    return text_format.MessageToString(model_config(name, fmt, interface, versions))


def precision_comment(precision: str) -> str:
    """A comment line naming a low-precision model's precision (Triton's parser skips comments); none for float32."""
    return "" if precision == "float32" else f"# precision: {precision} (graphtool)\n"


def read_config(path: Path):
    """config.pbtxt parsed with tritonclient's ModelConfig proto; a one-line error when it does not parse."""
    from google.protobuf import text_format

    config = _protos().ModelConfig()
    try:
        text_format.Parse(path.read_text(), config)
    except text_format.ParseError as error:
        raise GraphtoolError(f"{path}: not a Triton model config ({first_line(error)})") from error
    return config


def _protos():
    """tritonclient's model_config_pb2, imported when a config is written or read."""
    try:
        from tritonclient.grpc import model_config_pb2
    except (ImportError, RuntimeError) as error:  # tritonclient.grpc raises RuntimeError when grpcio is missing
        raise MissingExtraError("tritonclient[grpc]", "serve") from error
    return model_config_pb2


def _plan(output: Path, name: str, version: int | None, force: bool) -> int:
    return plan_version(output, name, version, force)


def _write(context: PackageContext) -> dict:
    if context.format not in PLATFORMS:
        raise GraphtoolError(f"--format {context.format}: Triton serves {', '.join(PLATFORMS)}")
    base = context.output / context.name
    base.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{context.version}.", dir=base))
    try:
        file = staged / FILES[context.format]
        copy = shutil.copytree if context.artifact.is_dir() else shutil.copy2
        copy(context.artifact, file)
        if context.format == "torchscript":  # graphtool serve needs the names; Triton ignores extra files
            context.interface.write(staged / INTERFACE_FILE)
        served = load_served(file, context.name, context.version, context.interface)
        check = check_outputs(served, context)
        final = base / str(context.version)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staged, final)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    versions = versions_in(base)
    path = base / "config.pbtxt"
    with atomic_path(path, force=True) as temporary:
        temporary.write_text(precision_comment(context.precision)
                             + config_text(context.name, context.format, _tensor_names(context), versions))
    check["config"] = _check_config(read_config(path), context, versions)
    check["passed"] = check["passed"] and not check["config"]
    return {"path": str(final), "config": str(path), "versions": versions, "check": check}


def _tensor_names(context: PackageContext) -> Interface:
    """The interface in the names Triton's backend finds in the file: an ONNX graph's own output names (an output
    named like an input is suffixed there), the served (source) names elsewhere."""
    if context.format != "onnx":
        return context.interface
    import onnx

    from converter.core.output_names import source_output_names

    model = onnx.load(str(context.artifact), load_external_data=False)
    own = dict(zip(source_output_names(model), (o.name for o in model.graph.output), strict=True))
    outputs = tuple(replace(spec, name=own.get(spec.name, spec.name)) for spec in context.interface.outputs)
    return replace(context.interface, outputs=outputs)


def _check_config(config, context: PackageContext, versions: list[int]) -> list[str]:
    """What Triton would refuse that the proto parser lets through: name, dims, files of every version."""
    problems = []
    if config.name != context.name:
        problems.append(f"name '{config.name}' differs from the folder '{context.name}'")
    for spec, tensor in zip(context.interface.inputs + context.interface.outputs,
                            list(config.input) + list(config.output), strict=True):
        expected = list(spec.shape[1:] if config.max_batch_size else spec.shape)
        if list(tensor.dims) != expected:
            problems.append(f"{tensor.name}: dims {list(tensor.dims)}, expected {expected}")
    for version in versions:
        if not (context.output / context.name / str(version) / FILES[context.format]).exists():
            problems.append(f"version {version} has no {FILES[context.format]}")
    return problems


LAYOUT = Layout("triton", ("onnx", "torchscript", "savedmodel"), _plan, _write)
