"""Run-time semantics of ONNX RNN, GRU and LSTM (all directions, layouts, activations, sequence_lens)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["rnn", "gru", "lstm", "ACTIVATIONS"]


ACTIVATIONS = {
    "sigmoid": (lambda x, a, b: torch.sigmoid(x), None, None),
    "tanh": (lambda x, a, b: torch.tanh(x), None, None),
    "relu": (lambda x, a, b: torch.relu(x), None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: F.leaky_relu(x, a), 0.01, None),
    "thresholdedrelu": (lambda x, a, b: F.threshold(x, a, 0.0), 1.0, None),
    "scaledtanh": (lambda x, a, b: a * torch.tanh(b * x), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: torch.clamp(a * x + b, 0, 1), 0.2, 0.5),
    "elu": (lambda x, a, b: F.elu(x, a), 1.0, None),
    "softsign": (lambda x, a, b: F.softsign(x), None, None),
    "softplus": (lambda x, a, b: F.softplus(x), None, None),
}


def _activations(options: dict, defaults: list[str], directions: int):
    names = options.get("activations") or defaults * directions
    alphas, betas = list(options.get("activation_alpha") or []), list(options.get("activation_beta") or [])
    out = []
    for name in names:
        fn, alpha, beta = ACTIVATIONS[name.lower()]
        if alpha is not None:
            alpha = alphas.pop(0) if alphas else alpha
        if beta is not None:
            beta = betas.pop(0) if betas else beta
        out.append(lambda x, fn=fn, a=alpha, b=beta: fn(x, a, b))
    per = len(names) // directions
    return [out[d * per : (d + 1) * per] for d in range(directions)]


def _run(x, sequence_lens, h0s, options, cell, defaults, gates):
    """Shared driver: x [seq, batch, in] (after layout), one `cell` call per step and direction."""
    if options.get("layout", 0):
        x = x.transpose(0, 1)
        h0s = [None if h is None else h.transpose(0, 1) for h in h0s]
    batch = x.shape[1]
    direction = options.get("direction", "forward")
    directions = 2 if direction == "bidirectional" else 1
    hidden = options["hidden_size"]
    acts = _activations(options, defaults, directions)
    ys, finals = [], [[] for _ in h0s]
    for d in range(directions):
        reverse = direction == "reverse" or d == 1
        state = [h[d] if h is not None else x.new_zeros(batch, hidden) for h in h0s]

        def step(xt, st, d=d):
            return cell(d, xt, st, acts[d], options.get("clip"))

        if sequence_lens is None:
            outputs, state = _unmasked(x.flip(0) if reverse else x, state, step)
            ys.append(outputs.flip(0) if reverse else outputs)
        else:
            outputs, state = _masked(x, sequence_lens.long(), reverse, state, step)
            ys.append(outputs)
        for k, s in enumerate(state):
            finals[k].append(s)
    y = torch.stack(ys, 1)
    results = [y] + [torch.stack(f) for f in finals]
    if options.get("layout", 0):
        results = [y.permute(2, 0, 1, 3)] + [f.transpose(0, 1) for f in results[1:]]
    return tuple(results[: gates])


def _unmasked(x, state, step):
    """Every sequence runs to the end: one cell call per time step."""
    outputs = []
    for xt in x.unbind(0):
        state = step(xt, state)
        outputs.append(state[0])
    return torch.stack(outputs), state


def _masked(x, lens, reverse: bool, state, step):
    """Sequence b stops after lens[b] steps: its state freezes and its outputs are zero."""
    steps, batch = x.shape[0], x.shape[1]
    outputs = [torch.zeros_like(state[0]) for _ in range(steps)]
    for t in range(steps):
        index = torch.where(lens > t, lens - 1 - t, t) if reverse else torch.full((batch,), t, device=x.device)
        new = step(x[index.clamp(max=steps - 1), torch.arange(batch, device=x.device)], state)
        valid = (lens > t)[:, None]
        state = [torch.where(valid, n, s) for n, s in zip(new, state, strict=True)]
        out = torch.where(valid, new[0], torch.zeros_like(new[0]))
        if reverse:
            for b in range(batch):
                if int(lens[b]) > t:
                    outputs[int(index[b])][b] = out[b]
        else:
            outputs[t] = out
    return torch.stack(outputs), state


def _clip(x, clip):
    return x if clip is None else torch.clamp(x, -clip, clip)


def rnn(x, w, r, b, sequence_lens, h0, options: dict):
    hidden = options["hidden_size"]
    b = b if b is not None else x.new_zeros(w.shape[0], 2 * hidden)

    def cell(d, xt, state, acts, clip):
        pre = xt @ w[d].T + state[0] @ r[d].T + b[d, :hidden] + b[d, hidden:]
        return [acts[0](_clip(pre, clip))]

    return _run(x, sequence_lens, [h0], options, cell, ["Tanh"], 2)


def gru(x, w, r, b, sequence_lens, h0, options: dict):
    hidden = options["hidden_size"]
    b = b if b is not None else x.new_zeros(w.shape[0], 6 * hidden)
    before_reset = options.get("linear_before_reset", 0)

    def cell(d, xt, state, acts, clip):
        h = state[0]
        wz, wr, wh = w[d].split(hidden)
        rz, rr, rh = r[d].split(hidden)
        bwz, bwr, bwh, brz, brr, brh = b[d].split(hidden)
        z = acts[0](_clip(xt @ wz.T + h @ rz.T + bwz + brz, clip))
        reset = acts[0](_clip(xt @ wr.T + h @ rr.T + bwr + brr, clip))
        from_h = reset * (h @ rh.T + brh) if before_reset else (reset * h) @ rh.T + brh
        hh = acts[1](_clip(xt @ wh.T + from_h + bwh, clip))
        return [(1 - z) * hh + z * h]

    return _run(x, sequence_lens, [h0], options, cell, ["Sigmoid", "Tanh"], 2)


def lstm(x, w, r, b, sequence_lens, h0, c0, p, options: dict):
    hidden = options["hidden_size"]
    b = b if b is not None else x.new_zeros(w.shape[0], 8 * hidden)
    p = p if p is not None else x.new_zeros(w.shape[0], 3 * hidden)
    couple = options.get("input_forget", 0)

    def cell(d, xt, state, acts, clip):
        h, c = state
        gates = xt @ w[d].T + h @ r[d].T + b[d, : 4 * hidden] + b[d, 4 * hidden :]
        gi, go, gf, gc = gates.split(hidden, -1)
        pi, po, pf = p[d].split(hidden)
        i = acts[0](_clip(gi + pi * c, clip))
        f = 1 - i if couple else acts[0](_clip(gf + pf * c, clip))
        cc = acts[1](_clip(gc, clip))
        c_new = f * c + i * cc
        o = acts[0](_clip(go + po * c_new, clip))
        return [o * acts[2](c_new), c_new]

    return _run(x, sequence_lens, [h0, c0], options, cell, ["Sigmoid", "Tanh", "Tanh"], 3)
