"""Integer and quantized matrix products: MatMulInteger, QLinearMatMul (computed exactly in int64/float)."""

from __future__ import annotations

from converter.targets.torch.node import Node
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import quantize as run_quantize


@torch_ops.register("MatMulInteger", since=10)
def matmul_integer(node: Node, a, b, a_zero=None, b_zero=None):
    return node.call(run_quantize.matmul_integer, a, b, a_zero, b_zero)


@torch_ops.register("QLinearMatMul", since=10)
def qlinear_matmul(node: Node, a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero):
    return node.call(run_quantize.qlinear_matmul, a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero)

