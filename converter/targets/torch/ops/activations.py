"""Activations, softmax-like ops and Dropout (inference only)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import functions as runtime

_SELU_ALPHA, _SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875


@torch_ops.register("Relu")
def relu(node: Node, x):
    return torch.relu(x)


@torch_ops.register("Sigmoid")
def sigmoid(node: Node, x):
    return torch.sigmoid(x)


@torch_ops.register("Tanh")
def tanh(node: Node, x):
    return torch.tanh(x)


@torch_ops.register("LeakyRelu")
def leaky_relu(node: Node, x):
    return F.leaky_relu(x, node.attr("alpha", 0.01))


@torch_ops.register("Elu")
def elu(node: Node, x):
    return F.elu(x, node.attr("alpha", 1.0))


@torch_ops.register("Celu")
def celu(node: Node, x):
    return F.celu(x, node.attr("alpha", 1.0))


@torch_ops.register("Selu")
def selu(node: Node, x):
    alpha, gamma = node.attr("alpha", _SELU_ALPHA), node.attr("gamma", _SELU_GAMMA)
    return node.call(runtime.selu, x, alpha, gamma)


@torch_ops.register("HardSigmoid")
def hard_sigmoid(node: Node, x):
    return torch.clamp(x * node.attr("alpha", 0.2) + node.attr("beta", 0.5), 0.0, 1.0)


@torch_ops.register("HardSwish")
def hard_swish(node: Node, x):
    return F.hardswish(x)


@torch_ops.register("Softplus")
def softplus(node: Node, x):
    return F.softplus(x)


@torch_ops.register("Softsign")
def softsign(node: Node, x):
    return F.softsign(x)


@torch_ops.register("ThresholdedRelu")
def thresholded_relu(node: Node, x):
    return F.threshold(x, node.attr("alpha", 1.0), 0.0)


@torch_ops.register("PRelu")
def prelu(node: Node, x, slope):
    return torch.where(x < 0, x * slope, x)


@torch_ops.register("Gelu")
def gelu(node: Node, x):
    return F.gelu(x, approximate=node.attr("approximate", "none"))


@torch_ops.register("Mish")
def mish(node: Node, x):
    return F.mish(x)


@torch_ops.register("Swish")
def swish(node: Node, x):
    return x * torch.sigmoid(x * node.attr("alpha", 1.0))


@torch_ops.register("Shrink")
def shrink(node: Node, x):
    return node.call(runtime.shrink, x, node.attr("lambd", 0.5), node.attr("bias", 0.0))


def _softmax_family(fn, legacy_fn):
    def legacy(node: Node, x):
        axis = node.attr("axis", 1)
        if axis in (-1, node.rank(0) - 1):
            return fn(x, -1)
        return node.call(legacy_fn, x, axis)

    def current(node: Node, x):
        return fn(x, node.attr("axis", -1))

    return legacy, current


for _op, _fn, _legacy in [
    ("Softmax", torch.softmax, runtime.softmax_2d),
    ("LogSoftmax", torch.log_softmax, runtime.log_softmax_2d),
    ("Hardmax", runtime.hardmax, runtime.hardmax_2d),
]:
    _old, _new = _softmax_family(_fn, _legacy)
    torch_ops.register(_op)(_old)
    torch_ops.register(_op, since=13)(_new)


@torch_ops.register("Dropout")
def dropout(node: Node, x, ratio=None, training_mode=None):
    if training_mode is not None and (is_traced(training_mode) or bool(training_mode)):
        raise node.unsupported("training_mode must be a constant false")
    if node.output_used(1):
        return x, node.call(torch.ones_like, x, dtype=torch.bool)
    return x
