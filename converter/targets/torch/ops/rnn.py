"""Recurrent layers RNN, GRU and LSTM (one FX call each, see recurrent.py for the step semantics)."""

from __future__ import annotations

from converter.targets.torch import recurrent
from converter.targets.torch.node import Node
from converter.targets.torch.registry import torch_ops

_KEYS = ("activations", "activation_alpha", "activation_beta", "clip", "direction", "hidden_size",
         "layout", "linear_before_reset", "input_forget")


def _options(node: Node) -> dict:
    options = {key: node.attr(key) for key in _KEYS if node.attr(key) is not None}
    if "hidden_size" not in options:
        shape = node.shape(2)
        if shape is None or shape[-1] is None:
            raise node.unsupported("hidden_size is unknown")
        options["hidden_size"] = shape[-1]
    return options


def _outputs(node: Node, result):
    return tuple(result[i] if node.output_used(i) else None for i in range(node.num_outputs))


@torch_ops.register("RNN", since=7)
def rnn(node: Node, x, w, r, b=None, sequence_lens=None, h0=None):
    return _outputs(node, node.call(recurrent.rnn, x, w, r, b, sequence_lens, h0, _options(node)))


@torch_ops.register("GRU", since=7)
def gru(node: Node, x, w, r, b=None, sequence_lens=None, h0=None):
    return _outputs(node, node.call(recurrent.gru, x, w, r, b, sequence_lens, h0, _options(node)))


@torch_ops.register("LSTM", since=7)
def lstm(node: Node, x, w, r, b=None, sequence_lens=None, h0=None, c0=None, p=None):
    return _outputs(node, node.call(recurrent.lstm, x, w, r, b, sequence_lens, h0, c0, p, _options(node)))
