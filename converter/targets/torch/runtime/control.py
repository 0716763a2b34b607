"""Run-time semantics of ONNX If, Loop and Scan over converted subgraph modules."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["LoopExportError", "if_", "loop", "scan"]


class LoopExportError(RuntimeError):
    """torch.export could not keep an ONNX Loop or Scan; the message names the node and why."""


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


def loop(max_trips, condition, body, carried: list, captured: list, name: str = "") -> tuple:
    if torch.compiler.is_exporting() or torch.compiler.is_compiling():
        try:
            return _while_loop(max_trips, condition, body, carried, captured)
        except Exception as exc:  # noqa: BLE001 - named here, where the Loop is known, for the export's error
            raise LoopExportError(f"ONNX Loop '{name}' could not be kept as a while_loop: {_innermost(exc)}") from exc
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

    if _output_count(body) not in (None, 1 + count):
        raise NotImplementedError("its body also stacks per-trip (scan) outputs, whose size a while_loop cannot carry")

    def trip(step, keep, *rest):
        out = _tuple(body(step, keep, *rest[:count], *rest[count + 1:]))
        # while_loop's outputs must not alias its inputs (a body may pass a value through unchanged)
        return (step + 1, out[0].reshape(()).to(torch.bool).clone(), *(v.clone() for v in out[1:]),
                *(v.clone() for v in rest[count:]))

    keep = torch.ones((), dtype=torch.bool) if condition is None else condition.reshape(()).to(torch.bool)
    start = (torch.zeros((), dtype=torch.int64), keep, *carried)
    return tuple(while_loop(keep_going, trip, (*start, limit, *captured))[2:2 + count])


def scan(body, states: list, scans: list, captured: list, in_axes, in_reverse, out_axes, out_reverse,
         name: str = "") -> tuple:
    if not (torch.compiler.is_exporting() or torch.compiler.is_compiling()):
        return _scan(body, states, scans, captured, in_axes, in_reverse, out_axes, out_reverse)
    try:
        return _scan(body, states, scans, captured, in_axes, in_reverse, out_axes, out_reverse)
    except Exception as exc:  # noqa: BLE001 - named here, where the Scan is known, for the export's error
        raise LoopExportError(f"ONNX Scan '{name}' could not be unrolled: {_innermost(exc)}") from exc


def _scan(body, states: list, scans: list, captured: list, in_axes, in_reverse, out_axes, out_reverse) -> tuple:
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


def _output_count(body) -> int | None:
    """How many values a converted subgraph returns, where it is an FX module."""
    graph = getattr(body, "graph", None)
    if graph is None:
        return None
    values = next(n for n in graph.nodes if n.op == "output").args[0]
    return len(values) if isinstance(values, (tuple, list)) else 1


def _innermost(exc: BaseException) -> str:
    """The first line of the deepest cause of `exc` (torch.compile wraps the body's own error in its own)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"
