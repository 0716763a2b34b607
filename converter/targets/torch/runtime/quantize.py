"""Run-time integer and quantized matrix products (computed exactly in int64/float)."""

from __future__ import annotations

import torch

__all__ = ["matmul_integer", "qlinear_matmul"]


def matmul_integer(a, b, a_zero=None, b_zero=None) -> torch.Tensor:
    if a_zero is not None and a_zero.dim() == 1 and a_zero.numel() > 1:
        a_zero = a_zero.reshape(-1, 1)
    a = a.to(torch.int64) - (a_zero.to(torch.int64) if a_zero is not None else 0)
    b = b.to(torch.int64) - (b_zero.to(torch.int64) if b_zero is not None else 0)
    return torch.matmul(a.double(), b.double()).to(torch.int32)


def qlinear_matmul(a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero) -> torch.Tensor:
    real_a = (a.to(torch.int64) - a_zero.to(torch.int64)).double() * a_scale.double()
    real_b = (b.to(torch.int64) - b_zero.to(torch.int64)).double() * b_scale.double()
    y = torch.round(torch.matmul(real_a, real_b) / y_scale.double()) + y_zero.to(torch.int64)
    info = torch.iinfo(y_zero.dtype)
    return y.clamp(info.min, info.max).to(y_zero.dtype)
