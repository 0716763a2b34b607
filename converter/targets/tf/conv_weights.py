"""Convolution weights stored in TensorFlow's kernel layout, so no graph op permutes them per call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

__all__ = ["Kernel", "kernel_perm", "transposed_kernel_perm", "kernel_layouts", "permute"]


@dataclass(frozen=True)
class Kernel:
    """A weight already permuted to TensorFlow's layout (spatial..., in, out)."""

    value: Any


def kernel_perm(ndim: int) -> list[int]:
    """Conv: ONNX (out, in, k...) -> TensorFlow (k..., in, out)."""
    return [*range(2, ndim), 1, 0]


def transposed_kernel_perm(ndim: int) -> list[int]:
    """ConvTranspose: ONNX (in, out, k...) -> TensorFlow (k..., out, in)."""
    return [*range(2, ndim), 1, 0]


def kernel_layouts(graph: onnx.GraphProto) -> dict[str, list[int]]:
    """Initializers used only as Conv/ConvTranspose weights, with their TensorFlow permutation (the same for both)."""
    uses: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, index))
    ranks = {i.name: len(i.dims) for i in graph.initializer}
    layouts = {}
    for name, ndim in ranks.items():
        users = uses.get(name, [])
        if users and ndim >= 3 and all(_is_conv_weight(n, i) for n, i in users):
            layouts[name] = kernel_perm(ndim)
    return layouts


def _is_conv_weight(node: onnx.NodeProto, index: int) -> bool:
    return node.op_type in ("Conv", "ConvTranspose") and node.domain in ("", "ai.onnx") and index == 1


def permute(array: np.ndarray, perm: list[int]) -> np.ndarray:
    """Permute an initializer once, at conversion time."""
    return np.ascontiguousarray(np.transpose(array, perm))
