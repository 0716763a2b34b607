"""The PyTorch backend: `prepare(model)` converts once; `rep.run(arrays)` returns outputs in graph order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from converter.targets.torch import to_graph_module

__all__ = ["TorchRep", "TorchBackend", "prepare", "run_model", "supports_device"]


class TorchRep(BackendRep):
    """A converted model; `run` takes numpy arrays in graph-input order (or a dict by input name)."""

    def __init__(self, module: Any, input_names: list[str], device: str = "cpu"):
        self.module = module
        self.input_names = input_names
        self.device = device

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Outputs in graph-output order, as numpy arrays."""
        import torch

        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.input_names]
        tensors = [_tensor(a, self.device) for a in inputs]
        with torch.inference_mode():
            results = self.module(*tensors)
        if not isinstance(results, tuple):
            results = (results,)
        return tuple(_numpy(r) for r in results)


class TorchBackend(Backend):
    """onnx.backend.base.Backend for the PyTorch converter (CPU, or CUDA when torch sees a GPU)."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> TorchRep:
        if not cls.supports_device(device):
            raise ValueError(f"the PyTorch backend cannot run on '{device}'")
        module = to_graph_module(model)
        target = "cuda" if device.upper().startswith("CUDA") else "cpu"
        initializers = {t.name for t in model.graph.initializer}
        names = [i.name for i in model.graph.input if i.name not in initializers]
        return TorchRep(module.to(target).eval(), names, target)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        if device.upper() == "CPU":
            return True
        if device.upper().startswith("CUDA"):
            import torch

            return torch.cuda.is_available()
        return False


def prepare(model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> TorchRep:
    """Convert `model` to a torch.fx.GraphModule and return a representation to `run`."""
    return TorchBackend.prepare(model, device, **kwargs)


def run_model(model: onnx.ModelProto, inputs: Sequence[np.ndarray], device: str = "CPU", **kwargs: Any) -> tuple:
    """Convert and run once."""
    return TorchBackend.run_model(model, inputs, device, **kwargs)


def supports_device(device: str) -> bool:
    """Whether `device` ('CPU', 'CUDA') can run converted models here."""
    return TorchBackend.supports_device(device)


def _tensor(value: Any, device: str) -> Any:
    import torch

    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_tensor(v, device) for v in value]
    return torch.from_numpy(np.array(value, copy=True)).to(device)


def _numpy(value: Any) -> Any:
    import torch

    if isinstance(value, list):
        return [_numpy(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            return value.float().numpy()
        return value.numpy()
    return value
