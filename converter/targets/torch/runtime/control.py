"""Run-time semantics of ONNX If, Loop and Scan over converted subgraph modules."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["if_", "loop", "scan"]


def _tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def if_(condition: torch.Tensor, then_branch, else_branch, then_args: list, else_args: list) -> tuple:
    if torch.compiler.is_exporting() or torch.compiler.is_compiling():
        # torch.export cannot branch on data; torch.cond needs both branches to return alike tensors
        count = len(then_args)
        return _tuple(torch.cond(
            condition.reshape(()),
            lambda *args: _tuple(then_branch(*args[:count])),
            lambda *args: _tuple(else_branch(*args[count:])),
            (*then_args, *else_args),
        ))
    if bool(condition):
        return _tuple(then_branch(*then_args))
    return _tuple(else_branch(*else_args))


def loop(max_trips, condition, body, carried: list, captured: list) -> tuple:
    if torch.compiler.is_exporting() or torch.compiler.is_compiling():
        return _while_loop(max_trips, condition, body, carried, captured)
    values = list(carried)
    keep = True if condition is None else bool(condition)
    trips = None if max_trips is None else int(max_trips)
    scanned: list[tuple[Any, ...]] = []
    step = 0
    while keep and (trips is None or step < trips):
        out = _tuple(body(torch.tensor(step, dtype=torch.int64), torch.tensor(keep), *values, *captured))
        keep = bool(out[0])
        values = list(out[1 : 1 + len(values)])
        scanned.append(out[1 + len(values) :])
        step += 1
    if not scanned:
        return tuple(values)
    stacked = [torch.stack([s[k] for s in scanned]) for k in range(len(scanned[0]))]
    return (*values, *stacked)


def _while_loop(max_trips, condition, body, carried: list, captured: list) -> tuple:
    """ONNX Loop as torch's while_loop, which torch.export keeps as a loop whose trip count is known at run time."""
    from torch._higher_order_ops import while_loop

    count = len(carried)
    limit = torch.full((), torch.iinfo(torch.int64).max) if max_trips is None else max_trips.reshape(()).long()

    def keep_going(step, keep, *rest):
        return keep & (step < rest[count])

    def trip(step, keep, *rest):
        out = _tuple(body(step, keep, *rest[:count], *rest[count + 1:]))
        if len(out) != 1 + count:
            raise NotImplementedError("a loop whose body stacks per-trip (scan) outputs has no fixed shape to carry")
        # while_loop's outputs must not alias its inputs (a body may pass a value through unchanged)
        return (step + 1, out[0].reshape(()).to(torch.bool).clone(), *(v.clone() for v in out[1:]),
                *(v.clone() for v in rest[count:]))

    keep = torch.ones((), dtype=torch.bool) if condition is None else condition.reshape(()).to(torch.bool)
    start = (torch.zeros((), dtype=torch.int64), keep, *carried)
    return tuple(while_loop(keep_going, trip, (*start, limit, *captured))[2:2 + count])


def scan(body, states: list, scans: list, captured: list, in_axes, in_reverse, out_axes, out_reverse) -> tuple:
    slices = []
    for x, axis, reverse in zip(scans, in_axes, in_reverse, strict=False):
        parts = list(torch.unbind(x, axis % x.dim()))
        slices.append(parts[::-1] if reverse else parts)
    steps = len(slices[0]) if slices else 0
    values, outputs = list(states), []
    for step in range(steps):
        out = _tuple(body(*values, *[s[step] for s in slices], *captured))
        values = list(out[: len(values)])
        outputs.append(out[len(values) :])
    stacked = []
    for k, (axis, reverse) in enumerate(zip(out_axes, out_reverse, strict=False)):
        items = [o[k] for o in outputs]
        items = items[::-1] if reverse else items
        stacked.append(torch.stack(items, axis % (items[0].dim() + 1)))
    return (*values, *stacked)
