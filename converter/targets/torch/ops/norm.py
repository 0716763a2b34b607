"""Normalizations: batch, instance, layer, group, RMS, Lp, LRN and mean-variance."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from converter.targets.torch.node import Node
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import norm as run_norm


@torch_ops.register("BatchNormalization")
def batch_norm(node: Node, x, scale, bias, mean, var):
    eps = node.attr("epsilon", 1e-5)
    if node.attr("training_mode", 0) or (node.opset < 9 and node.num_outputs > 1 and not node.attr("is_test", 0)):
        result = node.call(run_norm.batch_norm_training, x, scale, bias, mean, var, eps, node.attr("momentum", 0.9))
        return result[0], result[1], result[2]
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, eps)


@torch_ops.register("InstanceNormalization")
def instance_norm(node: Node, x, scale, bias):
    return F.instance_norm(x, weight=scale, bias=bias, eps=node.attr("epsilon", 1e-5))


@torch_ops.register("LayerNormalization")
def layer_norm(node: Node, x, scale, bias=None):
    axis, eps = node.attr("axis", -1), node.attr("epsilon", 1e-5)
    shape = node.shape(0)
    normalized = None if shape is None else list(shape[axis:] if axis != 0 else shape)
    scale_shape = node.shape(1)
    plain = (
        not node.output_used(1) and not node.output_used(2) and normalized is not None
        and None not in normalized and scale_shape is not None and list(scale_shape) == normalized
        and (bias is None or list(node.shape(2) or ()) == normalized)
    )
    if plain:
        return F.layer_norm(x, normalized, scale, bias, eps)
    result = node.call(run_norm.layer_norm, x, scale, bias, axis, eps)
    return result[0], result[1], result[2]


@torch_ops.register("GroupNormalization")
def group_norm(node: Node, x, scale, bias):
    groups, eps = node.attr("num_groups"), node.attr("epsilon", 1e-5)
    if node.opset < 21:
        channels = (node.shape(0) or (None, None))[1]
        if channels is None:
            raise node.unsupported("the channel count is unknown")
        scale = torch.repeat_interleave(scale, channels // groups)
        bias = torch.repeat_interleave(bias, channels // groups)
    return F.group_norm(x, groups, scale, bias, eps)


@torch_ops.register("RMSNormalization")
def rms_norm(node: Node, x, scale):
    axis, eps = node.attr("axis", -1), node.attr("epsilon", 1e-5)
    dims = list(range(axis % node.rank(0), node.rank(0)))
    return x * torch.rsqrt(torch.mean(x * x, dim=dims, keepdim=True) + eps) * scale


@torch_ops.register("LpNormalization")
def lp_norm(node: Node, x):
    norm = torch.linalg.vector_norm(x, node.attr("p", 2), dim=node.attr("axis", -1), keepdim=True)
    return torch.where(norm == 0, torch.zeros_like(x), x / norm)


@torch_ops.register("LRN")
def lrn(node: Node, x):
    return F.local_response_norm(
        x, node.attr("size"), node.attr("alpha", 1e-4), node.attr("beta", 0.75), node.attr("bias", 1.0)
    )


@torch_ops.register("MeanVarianceNormalization")
def mean_variance_norm(node: Node, x):
    axes = node.attr("axes", [0, 2, 3])
    mean = torch.mean(x, dim=axes, keepdim=True)
    centered = x - mean
    return centered / (torch.sqrt(torch.mean(centered * centered, dim=axes, keepdim=True)) + 1e-9)

