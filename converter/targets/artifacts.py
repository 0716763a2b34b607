"""The formats `convert` writes: how each is written from a loaded model, and how the result is run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converter.core import external_data
from converter.core.atomic import check_writable, remove
from converter.core.dynamic import traceable
from converter.core.errors import GraphtoolError
from converter.core.inputs import graph_input_specs
from converter.core.runners import Runner, ort_runner
from converter.core.targets import TARGET_NAMES
from converter.core.timing import stage
from converter.core.types import LoadedModel
from converter.targets import runners

__all__ = ["Target", "TARGETS", "target_named"]


@dataclass(frozen=True)
class Target:
    """A target format: its default suffix, a writer, and a runner for the written artifact."""

    name: str
    suffix: str  # '' for a directory
    write: Callable[[LoadedModel, Path, bool], dict]  # (loaded, path, force) -> details for the report
    runner: Callable[[Path, LoadedModel, dict], Runner]  # (path, loaded, details) -> runs the artifact


def target_named(name: str) -> Target:
    """The target called `name`, or a one-line error listing them."""
    if name not in TARGETS:
        raise GraphtoolError(f"--to {name}: unknown target; expected one of {', '.join(TARGETS)}")
    return TARGETS[name]


def _input_names(loaded: LoadedModel) -> list[str]:
    return [spec.name for spec in graph_input_specs(loaded.model)]


def _output_names(loaded: LoadedModel) -> list[str]:
    return [output.name for output in loaded.model.graph.output]


def _write_onnx(loaded: LoadedModel, path: Path, force: bool) -> dict:
    """One file, or over the external-data threshold the graph plus PATH.data beside it, streamed."""
    check_writable(path, force)
    try:
        with stage("save"):
            external = external_data.save_model(loaded.model, path, loaded.weights_dir)
    except BaseException:
        remove(path)
        external_data.remove_data(path)
        raise
    return {"external_data": str(external_data.data_path(path)) if external else None}


def _run_onnx(path: Path, loaded: LoadedModel, details: dict) -> Runner:
    return ort_runner(onnx.load_model(str(path), load_external_data=False), folder=path.parent)


def _write_savedmodel(loaded: LoadedModel, path: Path, force: bool) -> dict:
    from converter.targets.savedmodel import write_savedmodel

    return write_savedmodel(loaded.model, path, force=force).to_dict()


def _signature_names(loaded: LoadedModel, details: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Graph input and output names -> the signature keys the writer gave them (renamed where TF requires)."""
    inputs, outputs = details["inputs"], details["outputs"]
    return ({name: inputs.get(name, name) for name in _input_names(loaded)},
            {name: outputs.get(name, name) for name in _output_names(loaded)})


def _run_savedmodel(path: Path, loaded: LoadedModel, details: dict) -> Runner:
    return runners.savedmodel_runner(path, *_signature_names(loaded, details))


def _write_tflite(loaded: LoadedModel, path: Path, force: bool) -> dict:
    from converter.targets.tflite import staged_savedmodel, write_tflite

    with staged_savedmodel(loaded.model, path.parent) as saved:
        return {**saved.to_dict(), **write_tflite(saved.directory, path, force=force).to_dict()}


def _run_tflite(path: Path, loaded: LoadedModel, details: dict) -> Runner:
    return runners.tflite_runner(path, *_signature_names(loaded, details))


def _torch_examples(loaded: LoadedModel) -> list[Any]:
    """The example inputs as tensors, tiled where a dynamic dim is 1 (torch.export would fix it there)."""
    import torch

    return [torch.from_numpy(np.ascontiguousarray(traceable(loaded.example_inputs[spec.name], spec)))
            for spec in graph_input_specs(loaded.model)]


def _write_pt2(loaded: LoadedModel, path: Path, force: bool) -> dict:
    from converter.targets.pt2 import write_pt2

    return write_pt2(loaded.model, path, example_inputs=_torch_examples(loaded), force=force).to_dict()


def _write_torchscript(loaded: LoadedModel, path: Path, force: bool) -> dict:
    from converter.targets.torchscript import write_torchscript

    return write_torchscript(loaded.model, path, example_inputs=_torch_examples(loaded), force=force).to_dict()


def _run_pt2(path: Path, loaded: LoadedModel, details: dict) -> Runner:
    return runners.pt2_runner(path, _input_names(loaded))


def _run_torchscript(path: Path, loaded: LoadedModel, details: dict) -> Runner:
    return runners.torchscript_runner(path, _input_names(loaded))


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("onnx", ".onnx", _write_onnx, _run_onnx),
        Target("savedmodel", "", _write_savedmodel, _run_savedmodel),
        Target("tflite", ".tflite", _write_tflite, _run_tflite),
        Target("pt2", ".pt2", _write_pt2, _run_pt2),
        Target("torchscript", ".ts", _write_torchscript, _run_torchscript),
    )
}
if tuple(TARGETS) != TARGET_NAMES:  # the CLI and manifests know the targets by these names, without this module
    raise RuntimeError(f"TARGETS {tuple(TARGETS)} and converter.core.targets.TARGET_NAMES {TARGET_NAMES} differ")
