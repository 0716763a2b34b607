"""Recurrent layers: RNN, GRU, LSTM (ONNX gate order; forward, reverse, bidirectional; sequence_lens)."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []

_ACTIVATIONS = {
    "sigmoid": lambda x, a, b: tf.math.sigmoid(x),
    "tanh": lambda x, a, b: tf.math.tanh(x),
    "relu": lambda x, a, b: tf.nn.relu(x),
    "hardsigmoid": lambda x, a, b: tf.clip_by_value(a * x + b, 0.0, 1.0),
    "affine": lambda x, a, b: a * x + b,
    "leakyrelu": lambda x, a, b: tf.where(x >= 0, x, a * x),
    "thresholdedrelu": lambda x, a, b: tf.where(x > a, x, tf.zeros_like(x)),
    "scaledtanh": lambda x, a, b: a * tf.math.tanh(b * x),
    "elu": lambda x, a, b: tf.where(x >= 0, x, a * (tf.math.exp(x) - 1)),
    "softsign": lambda x, a, b: x / (1 + tf.math.abs(x)),
    "softplus": lambda x, a, b: tf.math.softplus(x),
}
_DEFAULT_ALPHA = {"hardsigmoid": 0.2, "leakyrelu": 0.01, "thresholdedrelu": 1.0, "elu": 1.0}
_DEFAULT_BETA = {"hardsigmoid": 0.5}


def _activations(node: Node, defaults: list[str], directions: int) -> list[list]:
    names = node.attr("activations") or defaults * directions
    alphas, betas = list(node.attr("activation_alpha", [])), list(node.attr("activation_beta", []))
    result = []
    for name in names:
        key = name.lower()
        if key not in _ACTIVATIONS:
            raise node.unsupported(f"activation '{name}'")
        a = (
            alphas.pop(0)
            if alphas and key in ("hardsigmoid", "affine", "leakyrelu", "thresholdedrelu", "scaledtanh", "elu")
            else _DEFAULT_ALPHA.get(key, 1.0)
        )
        b = betas.pop(0) if betas and key in ("hardsigmoid", "affine", "scaledtanh") else _DEFAULT_BETA.get(key, 0.0)
        result.append(lambda x, f=_ACTIVATIONS[key], a=a, b=b: f(x, a, b))
    per = len(names) // directions
    return [result[d * per : (d + 1) * per] for d in range(directions)]


def _run(node: Node, cell, x, lengths, states: list, reverse: bool):
    """Scan `cell` over time; past a sequence's length its state is kept and its output is zero."""
    steps = tf.shape(x)[0]
    batch = tf.shape(x)[1]
    if lengths is None:
        lengths = tf.fill([batch], steps)
    lengths = tf.cast(lengths, tf.int32)
    if reverse:
        x = tf.reverse_sequence(x, lengths, seq_axis=0, batch_axis=1)
    times = tf.range(steps)

    def step(carry, inputs):
        x_t, t = inputs
        new = cell(x_t, carry[1:])
        alive = (t < lengths)[:, None]
        kept = [tf.where(alive, n, c) for n, c in zip(new, carry[1:], strict=True)]
        return [tf.where(alive, new[0], tf.zeros_like(new[0])), *kept]

    initial = [tf.zeros_like(states[0]), *states]
    outputs = tf.scan(step, (x, times), initializer=initial)
    y = outputs[0]
    if reverse:
        y = tf.reverse_sequence(y, lengths, seq_axis=0, batch_axis=1)
    finals = [o[-1] for o in outputs[1:]]
    return y, finals


def _layer(node: Node, x, w, r, b, lengths, initial: list, gates: int, make_cell, defaults: list[str]):
    if node.attr("layout", 0):
        x = tf.transpose(x, [1, 0, 2])
        initial = [None if s is None else tf.transpose(s, [1, 0, 2]) for s in initial]
    direction = node.attr("direction", "forward")
    directions = 2 if direction == "bidirectional" else 1
    hidden = node.attr("hidden_size") or int(r.shape[-1])
    acts = _activations(node, defaults, directions)
    batch = tf.shape(x)[1]
    ys, finals = [], []
    for d in range(directions):
        bias = tf.zeros([2 * gates * hidden], x.dtype) if b is None else tf.cast(b[d], x.dtype)
        states = [tf.zeros(tf.stack([batch, hidden]), x.dtype) if s is None else s[d] for s in initial]
        cell = make_cell(node, tf.transpose(w[d]), tf.transpose(r[d]), bias, hidden, acts[d], d)
        reverse = direction == "reverse" or d == 1
        y, state = _run(node, cell, x, lengths, states, reverse)
        ys.append(y)
        finals.append(state)
    y = tf.stack(ys, 1)
    last = [tf.stack([f[i] for f in finals], 0) for i in range(len(initial))]
    if node.attr("layout", 0):
        y = tf.transpose(y, [2, 0, 1, 3])
        last = [tf.transpose(s, [1, 0, 2]) for s in last]
    return [y, *last]


def _clip(node: Node, value):
    limit = node.attr("clip")
    return value if limit is None else tf.clip_by_value(value, -limit, limit)


def _rnn_cell(node, w, r, bias, hidden, acts, d):
    wb, rb = bias[:hidden], bias[hidden:]

    def cell(x_t, state):
        return [acts[0](_clip(node, x_t @ w + state[0] @ r + wb + rb))]

    return cell


def _gru_cell(node, w, r, bias, hidden, acts, d):
    wb, rb = bias[: 3 * hidden], bias[3 * hidden :]
    before_reset = bool(node.attr("linear_before_reset", 0))

    def cell(x_t, state):
        h = state[0]
        xw = x_t @ w + wb
        xz, xr, xh = tf.split(xw, 3, -1)
        rz, rr, rh = tf.split(r, 3, -1)
        bz, br, bh = tf.split(rb, 3, -1)
        z = acts[0](_clip(node, xz + h @ rz + bz))
        reset = acts[0](_clip(node, xr + h @ rr + br))
        candidate = xh + (reset * (h @ rh + bh) if before_reset else (reset * h) @ rh + bh)
        h_new = acts[1](_clip(node, candidate))
        return [(1 - z) * h_new + z * h]

    return cell


def _lstm_cell_factory(peepholes):
    def make(node, w, r, bias, hidden, acts, d):
        b = bias[: 4 * hidden] + bias[4 * hidden :]
        p = None if peepholes is None else tf.split(tf.cast(peepholes[d], w.dtype), 3)
        couple = bool(node.attr("input_forget", 0))

        def cell(x_t, state):
            h, c = state
            i, o, f, g = tf.split(x_t @ w + h @ r + b, 4, -1)
            if p is not None:
                i, f = i + p[0] * c, f + p[2] * c
            i = acts[0](_clip(node, i))
            f = 1 - i if couple else acts[0](_clip(node, f))
            c_new = f * c + i * acts[1](_clip(node, g))
            if p is not None:
                o = o + p[1] * c_new
            o = acts[0](_clip(node, o))
            return [o * acts[2](c_new), c_new]

        return cell

    return make


@tf_ops.register("RNN", since=7)
def rnn(node: Node, x, w, r, b=None, lengths=None, h0=None):
    return _layer(node, x, w, r, b, lengths, [h0], 1, _rnn_cell, ["Tanh"])


@tf_ops.register("GRU", since=7)
def gru(node: Node, x, w, r, b=None, lengths=None, h0=None):
    return _layer(node, x, w, r, b, lengths, [h0], 3, _gru_cell, ["Sigmoid", "Tanh"])


@tf_ops.register("LSTM", since=7)
def lstm(node: Node, x, w, r, b=None, lengths=None, h0=None, c0=None, peepholes=None):
    return _layer(node, x, w, r, b, lengths, [h0, c0], 4, _lstm_cell_factory(peepholes), ["Sigmoid", "Tanh", "Tanh"])
