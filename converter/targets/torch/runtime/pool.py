"""Run-time pooling kernels: average pooling without padding counts, dilated average pooling, MaxPool indices."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["avg_pool_exclude_pad", "dilated_avg_pool", "max_pool_indices", "max_unpool"]


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


def max_unpool(x: torch.Tensor, indices: torch.Tensor, output_shape, kernel, strides, pads) -> torch.Tensor:
    """ONNX MaxUnpool: scatter each value to its (whole-tensor flat) index in a zero tensor."""
    if output_shape is not None:
        shape = [int(v) for v in output_shape.tolist()]
    else:
        spatial = len(kernel)
        shape = list(x.shape[:2]) + [
            (x.shape[2 + i] - 1) * strides[i] + kernel[i] - pads[i] - pads[i + spatial] for i in range(spatial)
        ]
    out = torch.zeros(int(torch.tensor(shape).prod()), dtype=x.dtype, device=x.device)
    out[indices.reshape(-1)] = x.reshape(-1)
    return out.reshape(shape)
