"""The runtimes `bench` times, each opened in a worker process of its own with the same thread budget."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.core.errors import GraphtoolError
from converter.core.runners import Runner

__all__ = ["Runtime", "RUNTIMES", "RUNTIME_NAMES", "runtime_named", "thread_knobs"]


@dataclass(frozen=True)
class Runtime:
    """A way to run the model: which framework's threads it uses, and how it opens from a worker's job."""

    name: str
    label: str  # what the table calls it
    framework: str  # 'onnxruntime', 'tensorflow', 'tflite' or 'torch'; a source's is its own
    open: Callable[[dict], Runner]  # (job) -> the model, loaded


def _open_onnx(job: dict) -> Runner:
    import onnx

    from converter.core.runners import ort_runner

    path = Path(job["path"])
    return ort_runner(onnx.load_model(str(path), load_external_data=False), threads=job["threads"], folder=path.parent)


def _open_savedmodel(job: dict) -> Runner:
    from converter.targets.runners import savedmodel_runner

    return savedmodel_runner(job["path"], job["signature_inputs"], job["signature_outputs"])


def _open_tflite(job: dict) -> Runner:
    from converter.targets.runners import tflite_runner

    return tflite_runner(job["path"], job["signature_inputs"], job["signature_outputs"], threads=job["threads"])


def _open_pt2(job: dict) -> Runner:
    from converter.targets.runners import pt2_runner

    return pt2_runner(job["path"], job["input_names"])


def _open_torchscript(job: dict) -> Runner:
    from converter.targets.runners import torchscript_runner

    return torchscript_runner(job["path"], job["input_names"])


def _open_source(job: dict) -> Runner:
    if job.get("framework") == "onnxruntime" and str(job["source"]).endswith(".onnx"):
        return _open_onnx({**job, "path": job["source"]})  # an ONNX source is its own reference: same threads
    from converter.core.types import LoadOptions
    from converter.sources import open_reference

    reference = open_reference(job["source"], LoadOptions.from_keys(job["load_options"]))
    return reference if isinstance(reference, Runner) else Runner("source", "cpu", reference)


RUNTIMES: dict[str, Runtime] = {
    runtime.name: runtime
    for runtime in (
        Runtime("source", "source", "", _open_source),
        Runtime("onnx", "onnxruntime", "onnxruntime", _open_onnx),
        Runtime("savedmodel", "SavedModel", "tensorflow", _open_savedmodel),
        Runtime("tflite", "TFLite", "tflite", _open_tflite),
        Runtime("pt2", "torch.export pt2", "torch", _open_pt2),
        Runtime("torchscript", "TorchScript", "torch", _open_torchscript),
    )
}
RUNTIME_NAMES = tuple(RUNTIMES)


def runtime_named(name: str) -> Runtime:
    """The runtime called `name`, or a one-line error listing them."""
    if name not in RUNTIMES:
        raise GraphtoolError(f"--targets {name}: unknown runtime; expected some of {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


def thread_knobs(framework: str, threads: int) -> dict[str, Any]:
    """Set `threads` through the framework's own knobs (before it runs anything); returns what was set."""
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # already set or in use: the intra-op budget is what counts
            torch.set_num_interop_threads(1)
        return {"torch.set_num_threads": threads, "torch.set_num_interop_threads": torch.get_num_interop_threads()}
    if framework in ("tensorflow", "tflite"):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        knobs = {"tf intra_op_parallelism_threads": threads, "tf inter_op_parallelism_threads": 1}
        return {**knobs, "tflite Interpreter num_threads": threads} if framework == "tflite" else knobs
    return {"onnxruntime intra_op_num_threads": threads}
