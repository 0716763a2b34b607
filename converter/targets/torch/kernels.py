"""Kernels the generated modules call for pooling, normalization and integer matrix products."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "avg_pool_exclude_pad", "dilated_avg_pool", "layer_norm", "batch_norm_training", "max_pool_indices",
    "matmul_integer", "qlinear_matmul",
]


def avg_pool_exclude_pad(
    x: torch.Tensor, kernel: list[int], strides: list[int], pads: list[int], ceil_mode: bool
) -> torch.Tensor:
    padded = F.pad(x, pads)
    ones = F.pad(torch.ones_like(x[:1, :1]), pads)
    return _avg_pool(padded, kernel, strides, ceil_mode) / _avg_pool(ones, kernel, strides, ceil_mode)


def _avg_pool(x: torch.Tensor, kernel: list[int], strides: list[int], ceil_mode: bool) -> torch.Tensor:
    # branches rather than a table of functions: TorchScript cannot use builtins as values
    if len(kernel) == 1:
        return F.avg_pool1d(x, kernel, strides, 0, ceil_mode, True)
    if len(kernel) == 2:
        return F.avg_pool2d(x, kernel, strides, 0, ceil_mode, True)
    return F.avg_pool3d(x, kernel, strides, 0, ceil_mode, True)


def dilated_avg_pool(x, kernel, strides, dilations, begins, ends, ceil_mode: bool, include_pad: bool):
    """Average pooling with dilations: a depthwise convolution with a ones kernel, divided by the count."""
    spatial = len(kernel)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[spatial]
    extra = []
    for i in range(spatial):
        size = x.shape[2 + i] + begins[i] + ends[i]
        span = (kernel[i] - 1) * dilations[i] + 1
        steps = (size - span) / strides[i]
        out = int(-(-steps // 1)) + 1 if ceil_mode else int(steps // 1) + 1
        if ceil_mode and (out - 1) * strides[i] >= x.shape[2 + i] + begins[i]:
            out -= 1
        extra.append(max(0, (out - 1) * strides[i] + span - size))
    channels = x.shape[1]
    pads = [p for i in reversed(range(spatial)) for p in (begins[i], ends[i])]
    ceil_pads = [p for i in reversed(range(spatial)) for p in (0, extra[i])]
    ones = torch.ones((channels, 1, *kernel), dtype=x.dtype, device=x.device)
    # float64: a ones-kernel convolution in TF32 (CUDA's default) would lose the averages' precision
    total = conv(F.pad(F.pad(x.double(), pads), ceil_pads), ones.double(), None, strides, 0, dilations, channels)
    mask = torch.ones_like(x[:1, :1])
    mask = F.pad(mask, pads, value=1.0 if include_pad else 0.0)
    mask = F.pad(mask, ceil_pads)
    count = conv(mask.double(), torch.ones((1, 1, *kernel), dtype=torch.float64, device=x.device), None, strides, 0,
                 dilations)
    return (total / count).to(x.dtype)


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


def max_pool_indices(indices: torch.Tensor, x: torch.Tensor, storage_order: int = 0) -> torch.Tensor:
    plane = 1
    for d in x.shape[2:]:
        plane *= d
    if storage_order:
        height, width = x.shape[2], x.shape[3]
        indices = (indices % width) * height + indices // width
    offsets = torch.arange(x.shape[0] * x.shape[1], device=x.device)
    offsets = offsets.reshape(x.shape[0], x.shape[1], *[1] * (x.dim() - 2))
    return indices + offsets * plane


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
