"""The TensorFlow backend: `prepare(model)` converts once; `rep.run(arrays)` returns outputs in graph order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from converter.targets.tf import from_onnx

__all__ = ["TensorflowRep", "TensorflowBackend", "prepare", "run_model", "supports_device"]


class TensorflowRep(BackendRep):
    """A converted model; `run` takes numpy arrays in graph-input order."""

    def __init__(self, module: Any):
        self.module = module

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Outputs in graph-output order, as numpy arrays."""
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.module.input_names]
        results = self.module(*inputs)
        return tuple(_numpy(results[name]) for name in self.module.output_names)


class TensorflowBackend(Backend):
    """onnx.backend.base.Backend for the TensorFlow converter (CPU only)."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> TensorflowRep:
        if not cls.supports_device(device):
            raise ValueError(f"the TensorFlow backend runs on CPU, not '{device}'")
        return TensorflowRep(from_onnx(model, propagate_layout=kwargs.get("propagate_layout", True)))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper() == "CPU"


def prepare(model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> TensorflowRep:
    """Convert `model` to TensorFlow and return a representation to `run`."""
    return TensorflowBackend.prepare(model, device, **kwargs)


def run_model(model: onnx.ModelProto, inputs: Sequence[np.ndarray], device: str = "CPU", **kwargs: Any) -> tuple:
    """Convert and run once."""
    return TensorflowBackend.run_model(model, inputs, device, **kwargs)


def supports_device(device: str) -> bool:
    return TensorflowBackend.supports_device(device)


def _numpy(value: Any) -> np.ndarray:
    """A tensor as numpy; strings as an object array of str, as onnxruntime returns them."""
    array = np.asarray(value.numpy())
    if array.dtype.kind in "OS":
        texts = [v.decode("utf-8") if isinstance(v, bytes) else v for v in array.ravel()]
        return np.array(texts, dtype=object).reshape(array.shape)
    return array
