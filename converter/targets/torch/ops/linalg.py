"""Matrix products: MatMul, Gemm, Einsum, Det."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from converter.targets.torch.node import Node
from converter.targets.torch.registry import torch_ops


@torch_ops.register("MatMul")
def matmul(node: Node, a, b):
    return torch.matmul(a, b)


@torch_ops.register("Gemm")
def gemm(node: Node, a, b, c=None):
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    trans_a, trans_b = node.attr("transA", 0), node.attr("transB", 0)
    if alpha == 1.0 and beta == 1.0 and not trans_a and trans_b and (c is None or len(node.shape(2) or ()) == 1):
        return F.linear(a, b, c)
    a = a.t() if trans_a else a
    b = b.t() if trans_b else b
    y = torch.matmul(a, b)
    if alpha != 1.0:
        y = y * alpha
    if c is None:
        return y
    return y + (c * beta if beta != 1.0 else c)


@torch_ops.register("Einsum")
def einsum(node: Node, *operands):
    return torch.einsum(node.attr("equation").replace(" ", ""), *operands)


@torch_ops.register("Det")
def det(node: Node, x):
    return torch.linalg.det(x)
