"""Recurrent layers RNN, GRU and LSTM: torch's fused ops where they match ONNX, else recurrent.py's step loop."""

from __future__ import annotations

import torch

from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import native_rnn
from converter.targets.torch.runtime import rnn as recurrent

_KEYS = ("activations", "activation_alpha", "activation_beta", "clip", "direction", "hidden_size",
         "layout", "linear_before_reset", "input_forget")
_DEFAULTS = {"RNN": ["tanh"], "GRU": ["sigmoid", "tanh"], "LSTM": ["sigmoid", "tanh", "tanh"]}
_NATIVE_DTYPES = (None, torch.float32, torch.float64)


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


def _mode(node: Node, options: dict) -> str | None:
    """torch's fused op computing this node ('lstm', 'gru', 'rnn_tanh', 'rnn_relu'), or None."""
    if any(key in options for key in ("clip", "activation_alpha", "activation_beta")):
        return None
    if options.get("input_forget", 0) or node.op_type == "GRU" and not options.get("linear_before_reset", 0):
        return None
    if node.dtype(0) not in _NATIVE_DTYPES:
        return None
    per = _DEFAULTS[node.op_type]
    names = [a.lower() for a in options.get("activations") or per]
    if node.op_type == "RNN" and set(names) == {"relu"}:
        return "rnn_relu"
    if names != per * (len(names) // len(per)):
        return None
    return {"RNN": "rnn_tanh", "GRU": "gru", "LSTM": "lstm"}[node.op_type]


def _full_length(node: Node, sequence_lens, layout: int) -> bool:
    """Whether every sequence runs the whole length: sequence_lens absent, or a constant equal to it."""
    if sequence_lens is None:
        return True
    shape = node.shape(0)
    steps = None if shape is None or len(shape) != 3 else shape[layout]
    if is_traced(sequence_lens) or steps is None:
        return False
    return bool((torch.as_tensor(sequence_lens) == steps).all())


def _no_peepholes(p) -> bool:
    return p is None or not is_traced(p) and not torch.as_tensor(p).any()


def _native(node: Node, mode: str, options: dict, x, w, r, b, h0, c0=None):
    hidden = options["hidden_size"]
    params = node.call(native_rnn.pack_params, w, r, b, native_rnn.ORDERS[node.op_type], hidden)
    traced = [v for v in (x, h0, c0) if is_traced(v)]
    if traced and not is_traced(params):
        params = _named(node, traced[0].tracer, params)
    direction, layout = options.get("direction", "forward"), options.get("layout", 0)
    return node.call(native_rnn.recurrent, mode, x, params, h0, c0, hidden, direction, layout)


def _named(node: Node, tracer, params: list):
    """Weights reordered at conversion time, as parameters named after ONNX's W, R and B."""
    w, r, b = (node.proto.input[i] if len(node.proto.input) > i and node.proto.input[i] else "b" for i in (1, 2, 3))
    names = [w, r, f"{b}_ih", f"{b}_hh"]
    return [_parameter(tracer, t, names[k % 4] + ("_reverse" if k >= 4 else "")) for k, t in enumerate(params)]


def _parameter(tracer, tensor, name: str):
    attr = tracer.fresh_attribute(name, "w")
    tracer.root.register_parameter(attr, torch.nn.Parameter(tensor.contiguous(), requires_grad=False))
    return tracer.create_proxy("get_attr", attr, (), {})


def _convert(node: Node, fallback, x, w, r, b, sequence_lens, h0, *lstm_only):
    """The node on torch's fused op when its semantics match, else on `fallback`; lstm_only: c0 and P."""
    options = _options(node)
    c0, p = (*lstm_only, None, None)[:2]
    mode = _mode(node, options) if _full_length(node, sequence_lens, options.get("layout", 0)) else None
    if mode is None or not _no_peepholes(p):
        return _outputs(node, node.call(fallback, x, w, r, b, sequence_lens, h0, *lstm_only, options))
    return _outputs(node, _native(node, mode, options, x, w, r, b, h0, c0))


@torch_ops.register("RNN", since=7)
def rnn(node: Node, x, w, r, b=None, sequence_lens=None, h0=None):
    return _convert(node, recurrent.rnn, x, w, r, b, sequence_lens, h0)


@torch_ops.register("GRU", since=7)
def gru(node: Node, x, w, r, b=None, sequence_lens=None, h0=None):
    return _convert(node, recurrent.gru, x, w, r, b, sequence_lens, h0)


@torch_ops.register("LSTM", since=7)
def lstm(node: Node, x, w, r, b=None, sequence_lens=None, h0=None, c0=None, p=None):
    return _convert(node, recurrent.lstm, x, w, r, b, sequence_lens, h0, c0, p)
