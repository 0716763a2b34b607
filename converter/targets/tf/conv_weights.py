"""Convolution weights stored in TensorFlow's kernel layout, so no graph op permutes them per call.

A depthwise Conv's weight (group == input channels) is stored as tf.nn.depthwise_conv2d takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

__all__ = ["Kernel", "KernelLayout", "kernel_perm", "transposed_kernel_perm", "kernel_layouts", "permute"]


@dataclass(frozen=True)
class Kernel:
    """A weight already in TensorFlow's layout: (spatial..., in, out), or (kh, kw, in, multiplier) if depthwise."""

    value: Any
    depthwise: bool = False


@dataclass(frozen=True)
class KernelLayout:
    """How an initializer is stored: permuted by `perm`, then split into (groups, multiplier) if depthwise."""

    perm: list[int]
    depthwise_groups: int = 0

    def apply(self, array: np.ndarray) -> np.ndarray:
        """The initializer in this layout, computed once at conversion time."""
        kernel = permute(array, self.perm)
        if self.depthwise_groups:
            kernel = kernel.reshape(*kernel.shape[:-2], self.depthwise_groups, -1)
        return kernel


def kernel_perm(ndim: int) -> list[int]:
    """Conv: ONNX (out, in, k...) -> TensorFlow (k..., in, out)."""
    return [*range(2, ndim), 1, 0]


def transposed_kernel_perm(ndim: int) -> list[int]:
    """ConvTranspose: ONNX (in, out, k...) -> TensorFlow (k..., out, in)."""
    return [*range(2, ndim), 1, 0]


def kernel_layouts(graph: onnx.GraphProto) -> dict[str, KernelLayout]:
    """Initializers used only as Conv/ConvTranspose weights, with their TensorFlow layout."""
    uses: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, index))
    layouts = {}
    for init in graph.initializer:
        users, ndim = uses.get(init.name, []), len(init.dims)
        if users and ndim >= 3 and all(_is_conv_weight(n, i) for n, i in users):
            layouts[init.name] = KernelLayout(kernel_perm(ndim), _depthwise_groups(init, [n for n, _ in users]))
    return layouts


def _depthwise_groups(init: onnx.TensorProto, users: list[onnx.NodeProto]) -> int:
    """The group count when every user is a 2-D Conv with group == input channels (one per group), else 0."""
    groups = {next((a.i for a in n.attribute if a.name == "group"), 1) for n in users}
    if len(init.dims) != 4 or init.dims[1] != 1 or len(groups) != 1 or any(n.op_type != "Conv" for n in users):
        return 0
    group = groups.pop()
    return group if group > 1 and init.dims[0] % group == 0 else 0


def _is_conv_weight(node: onnx.NodeProto, index: int) -> bool:
    return node.op_type in ("Conv", "ConvTranspose") and node.domain in ("", "ai.onnx") and index == 1


def permute(array: np.ndarray, perm: list[int]) -> np.ndarray:
    """Permute an initializer once, at conversion time."""
    return np.ascontiguousarray(np.transpose(array, perm))
