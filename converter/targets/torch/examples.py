"""Example inputs and symbolic dims of an ONNX graph's inputs, for torch.export and torch.jit.trace."""

from __future__ import annotations

import onnx
import torch

from converter.core.errors import GraphtoolError
from converter.targets.torch.dtypes import torch_dtype

__all__ = ["graph_inputs", "example_inputs", "symbolic_dims"]


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The graph inputs that are not initializers, in order (the module's positional arguments)."""
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def symbolic_dims(model: onnx.ModelProto) -> list[dict[int, str]]:
    """Per input: dim index -> name of each dim without a fixed size (unnamed ones get a made-up name)."""
    dims = []
    for position, info in enumerate(graph_inputs(model)):
        named = {}
        for index, dim in enumerate(info.type.tensor_type.shape.dim):
            if not dim.HasField("dim_value"):
                named[index] = dim.dim_param or f"{info.name}_dim{index}_{position}"
        dims.append(named)
    return dims


def example_inputs(model: onnx.ModelProto, batch: int = 2, other: int = 16, seed: int = 0) -> list[torch.Tensor]:
    """Seeded inputs of the right dtype; a symbolic dim is `batch` when first, else `other`."""
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for info in graph_inputs(model):
        kind = info.type.tensor_type
        dtype = torch_dtype(kind.elem_type)
        if dtype is None:
            raise GraphtoolError(f"input '{info.name}': element type {kind.elem_type} has no torch dtype")
        shape = [d.dim_value if d.HasField("dim_value") else (batch if i == 0 else other)
                 for i, d in enumerate(kind.shape.dim)]
        if dtype.is_floating_point:
            tensors.append(torch.randn(shape, generator=generator).to(dtype))
        else:
            tensors.append(torch.zeros(shape, dtype=dtype))
    return tensors
