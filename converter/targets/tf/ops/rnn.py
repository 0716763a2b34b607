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


def _run(cell, xw, lengths, states: list, reverse: bool):
    """Loop `cell` over the projected inputs; past a sequence's length its state is kept and its output is zero."""
    steps, batch = tf.shape(xw)[0], tf.shape(xw)[1]
    lengths = tf.fill([batch], steps) if lengths is None else tf.cast(lengths, tf.int32)
    if reverse:
        xw = tf.reverse_sequence(xw, lengths, seq_axis=0, batch_axis=1)

    def step(t, carry):
        new = cell(tf.gather(xw, t), carry)
        alive = (t < lengths)[:, None]
        kept = [tf.where(alive, n, c) for n, c in zip(new, carry, strict=True)]
        return tf.where(alive, new[0], tf.zeros_like(new[0])), kept

    def one(t, carry):
        y_t, kept = step(t, carry)
        return y_t[None], kept

    # Chunks of about sqrt(steps) steps keep the copying of concatenation (see _grow) at steps ** 1.5.
    chunk = tf.cast(tf.math.ceil(tf.math.sqrt(tf.cast(steps, tf.float32))), tf.int32)

    def chunk_of(start, carry):
        return _grow(one, start, tf.minimum(start + chunk, steps), 1, carry)

    y, finals = _grow(chunk_of, 0, steps, chunk, states)
    if reverse:
        y = tf.reverse_sequence(y, lengths, seq_axis=0, batch_axis=1)
    return y, finals


def _grow(block, start, stop, stride, carry: list):
    """block(t, carry) for t = start, start + stride, ... < stop (at least once), concatenated; and the last carry.

    Not a TensorArray: TFLite lowers tensor lists to builtins only with static element shapes (no
    dynamic batch). The loop starts after the first block because TFLite's interpreter fails on an
    empty tensor as a loop variable.
    """
    y, carry = block(start, carry)

    def body(t, y, *carry):
        more, carry = block(t, list(carry))
        return [t + stride, tf.concat([y, more], 0), *carry]

    invariants = [tf.TensorShape([]), tf.TensorShape([None, *y.shape[1:]]), *(c.shape for c in carry)]
    first = tf.convert_to_tensor(start + stride, tf.int32)
    _, y, *carry = tf.while_loop(lambda t, *rest: t < stop, body, [first, y, *carry], shape_invariants=invariants)
    return y, carry


def _project(x, w, bias):
    """x @ w + bias for every time step at once, outside the loop."""
    features = w.shape[0] if w.shape[0] is not None else tf.shape(w)[0]
    flat = tf.reshape(x, [-1, features]) @ w + bias
    return tf.reshape(flat, tf.concat([tf.shape(x)[:2], tf.shape(w)[1:]], 0))


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
        # Known state shapes let the loop's shapes, and TFLite's, be [batch, hidden] rather than unknown.
        states = [tf.reshape(s, [-1, hidden]) for s in states]
        input_bias, cell = make_cell(node, tf.transpose(r[d]), bias, hidden, acts[d], d)
        xw = _project(x, tf.transpose(w[d]), input_bias)
        y, state = _run(cell, xw, lengths, states, direction == "reverse" or d == 1)
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


def _rnn_cell(node, r, bias, hidden, acts, d):
    def cell(xw_t, state):
        return [acts[0](_clip(node, xw_t + state[0] @ r + bias[hidden:]))]

    return bias[:hidden], cell


def _gru_cell(node, r, bias, hidden, acts, d):
    rb = bias[3 * hidden :]
    before_reset = bool(node.attr("linear_before_reset", 0))
    rz, rr, rh = tf.split(r, 3, -1)
    bz, br, bh = tf.split(rb, 3, -1)

    def cell(xw_t, state):
        h = state[0]
        xz, xr, xh = tf.split(xw_t, 3, -1)
        z = acts[0](_clip(node, xz + h @ rz + bz))
        reset = acts[0](_clip(node, xr + h @ rr + br))
        candidate = xh + (reset * (h @ rh + bh) if before_reset else (reset * h) @ rh + bh)
        h_new = acts[1](_clip(node, candidate))
        return [(1 - z) * h_new + z * h]

    return bias[: 3 * hidden], cell


def _lstm_cell_factory(peepholes):
    def make(node, r, bias, hidden, acts, d):
        p = None if peepholes is None else tf.split(tf.cast(peepholes[d], r.dtype), 3)
        couple = bool(node.attr("input_forget", 0))

        def cell(xw_t, state):
            h, c = state
            i, o, f, g = tf.split(xw_t + h @ r, 4, -1)
            if p is not None:
                i, f = i + p[0] * c, f + p[2] * c
            i = acts[0](_clip(node, i))
            f = 1 - i if couple else acts[0](_clip(node, f))
            c_new = f * c + i * acts[1](_clip(node, g))
            if p is not None:
                o = o + p[1] * c_new
            o = acts[0](_clip(node, o))
            return [o * acts[2](c_new), c_new]

        return bias[: 4 * hidden] + bias[4 * hidden :], cell

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
