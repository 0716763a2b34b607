"""Run-time normalization kernels: LayerNorm over trailing axes, BatchNorm in training mode."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["layer_norm", "batch_norm_training"]


def layer_norm(x: torch.Tensor, scale, bias, axis: int, epsilon: float):
    axis = axis % x.dim()
    dims = tuple(range(axis, x.dim()))
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    mean = work.mean(dim=dims, keepdim=True)
    inv_std = torch.rsqrt(((work - mean) ** 2).mean(dim=dims, keepdim=True) + epsilon)
    y = ((work - mean) * inv_std).to(x.dtype) * scale
    if bias is not None:
        y = y + bias
    return y, mean, inv_std


def batch_norm_training(x, scale, bias, mean, var, epsilon: float, momentum: float):
    dims = [0, *range(2, x.dim())]
    batch_mean = x.mean(dim=dims)
    batch_var = x.var(dim=dims, unbiased=False)
    y = F.batch_norm(x, None, None, scale, bias, True, 0.0, epsilon)
    return y, mean * momentum + batch_mean * (1 - momentum), var * momentum + batch_var * (1 - momentum)
