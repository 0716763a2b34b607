"""ONNX RNN, GRU and LSTM on torch's fused recurrent ops, in ONNX's layouts, the sequence length left dynamic."""

from __future__ import annotations

import torch

__all__ = ["ORDERS", "pack_params", "recurrent"]

# Where torch's gate k sits in ONNX's gate order: LSTM i,o,f,c -> i,f,g,o; GRU z,r,h -> r,z,n.
ORDERS = {"RNN": [0], "GRU": [1, 0, 2], "LSTM": [0, 2, 3, 1]}


def _gates(t: torch.Tensor, order: list[int], hidden: int) -> torch.Tensor:
    """Reorder the gate blocks along dim 1 of `t` ([directions, gates * hidden, ...])."""
    return torch.cat([t.narrow(1, k * hidden, hidden) for k in order], 1)


def pack_params(
    w: torch.Tensor, r: torch.Tensor, b: torch.Tensor | None, order: list[int], hidden: int
) -> list[torch.Tensor]:
    """ONNX W, R and B as torch's flat weight list: w_ih, w_hh, b_ih, b_hh per direction."""
    size = len(order) * hidden
    if b is None:
        b = w.new_zeros(w.shape[0], 2 * size)
    w, r = _gates(w, order, hidden), _gates(r, order, hidden)
    b_ih, b_hh = _gates(b[:, :size], order, hidden), _gates(b[:, size:], order, hidden)
    params: list[torch.Tensor] = []
    for d in range(w.shape[0]):
        params.extend([w[d], r[d], b_ih[d], b_hh[d]])
    return params


def recurrent(
    mode: str,
    x: torch.Tensor,
    params: list[torch.Tensor],
    h0: torch.Tensor | None,
    c0: torch.Tensor | None,
    hidden: int,
    direction: str,
    layout: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ONNX Y, Y_h and Y_c (Y_h again for RNN and GRU) of `mode` ('lstm', 'gru', 'rnn_tanh', 'rnn_relu')."""
    directions = 2 if direction == "bidirectional" else 1
    if layout == 1:
        x = x.transpose(0, 1)
        h0 = None if h0 is None else h0.transpose(0, 1)
        c0 = None if c0 is None else c0.transpose(0, 1)
    if direction == "reverse":  # torch has no reverse-only mode
        x = x.flip(0)
    zeros = x.new_zeros(directions, x.shape[1], hidden)
    h = zeros if h0 is None else h0
    c = zeros if c0 is None else c0
    y, h, c = _fused(mode, x.contiguous(), h.contiguous(), c.contiguous(), params, directions == 2)
    if direction == "reverse":
        y = y.flip(0)
    y = y.reshape(y.shape[0], y.shape[1], directions, hidden)
    if layout == 1:
        return y.transpose(0, 1), h.transpose(0, 1), c.transpose(0, 1)
    return y.permute(0, 2, 1, 3), h, c


def _fused(
    mode: str, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, params: list[torch.Tensor], bidirectional: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """torch's fused op; under torch.export a scan, since export unrolls the fused ops over the sequence."""
    # TorchScript skips the body of a bare `if not torch.jit.is_scripting()` only, not of a longer condition
    if not torch.jit.is_scripting():  # noqa: SIM102
        if torch.compiler.is_exporting():
            return _scanned(mode, x, h, c, params, bidirectional)
    if mode == "lstm":
        return torch.lstm(x, (h, c), params, True, 1, 0.0, False, bidirectional, False)
    if mode == "gru":
        y, h = torch.gru(x, h, params, True, 1, 0.0, False, bidirectional, False)
    elif mode == "rnn_relu":
        y, h = torch.rnn_relu(x, h, params, True, 1, 0.0, False, bidirectional, False)
    else:
        y, h = torch.rnn_tanh(x, h, params, True, 1, 0.0, False, bidirectional, False)
    return y, h, h


def _scanned(mode, x, h, c, params, bidirectional: bool):
    """The fused op's results from one torch scan per direction, the backward one over the flipped sequence."""
    ys, hs, cs = [], [], []
    for d in range(2 if bidirectional else 1):
        y, hd, cd = _scan_direction(mode, x.flip(0) if d else x, h[d], c[d], params[4 * d : 4 * d + 4])
        ys.append(y.flip(0) if d else y)
        hs.append(hd)
        cs.append(cd)
    return torch.cat(ys, -1), torch.stack(hs), torch.stack(cs)


def _scan_direction(mode, x, h, c, params):
    """One direction as a torch scan over the steps, the input projection done for all steps at once."""
    from torch._higher_order_ops.scan import scan

    w_ih, w_hh, b_ih, b_hh = params
    lstm = mode == "lstm"

    def step(carry, gx):
        h, c = _cell(mode, gx, carry[0] @ w_hh.t() + b_hh, carry[0], carry[-1])
        return ((h, c) if lstm else (h,)), h.clone()  # scan's outputs and carry may not alias

    carry, y = scan(step, (h, c) if lstm else (h,), x @ w_ih.t() + b_ih)
    return y, carry[0], carry[-1]


def _cell(mode, gx, gh, h, c):
    """One step of torch's cell given the input and hidden projections (gates in torch's order)."""
    if mode == "lstm":
        i, f, g, o = (gx + gh).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    if mode == "gru":
        xr, xz, xn = gx.chunk(3, -1)
        hr, hz, hn = gh.chunk(3, -1)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + torch.sigmoid(xr + hr) * hn)
        return (1 - z) * n + z * h, c
    return (torch.relu(gx + gh) if mode == "rnn_relu" else torch.tanh(gx + gh)), c
