"""Run-time semantics of ONNX sequence ops; a sequence is a Python list of tensors."""

from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "construct", "insert", "at", "erase", "length", "concat", "split", "map_",
]


def construct(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return list(tensors)


def _position(sequence: list, position, default: int) -> int:
    index = default if position is None else int(position.reshape(()).item())
    return index + len(sequence) if index < 0 else index


def insert(sequence: list, tensor: torch.Tensor, position=None) -> list[torch.Tensor]:
    out = list(sequence)
    out.insert(_position(sequence, position, len(sequence)), tensor)
    return out


def at(sequence: list, position) -> torch.Tensor:
    return sequence[_position(sequence, position, 0)]


def erase(sequence: list, position=None) -> list[torch.Tensor]:
    out = list(sequence)
    del out[_position(sequence, position, len(sequence) - 1)]
    return out


def length(sequence: list) -> torch.Tensor:
    return torch.tensor(len(sequence), dtype=torch.int64)


def concat(sequence: list, axis: int, new_axis: int) -> torch.Tensor:
    return torch.stack(sequence, axis) if new_axis else torch.cat(sequence, axis)


def split(x: torch.Tensor, sizes, axis: int, keepdims: int) -> list[torch.Tensor]:
    if sizes is None:
        parts = torch.split(x, 1, axis)
        return [p.squeeze(axis) for p in parts] if not keepdims else list(parts)
    if sizes.dim() == 0:
        return list(torch.split(x, int(sizes), axis))
    return list(torch.split(x, [int(s) for s in sizes.tolist()], axis))


def map_(body: Any, captured: list, sequence_count: int, *inputs: Any) -> tuple[list[torch.Tensor], ...]:
    """Apply `body` to the i-th element of every sequence input (tensor inputs are passed whole)."""
    steps = len(inputs[0])
    results: list[list[torch.Tensor]] = []
    for i in range(steps):
        args = [v[i] if isinstance(v, list) else v for v in inputs]
        out = body(*args, *captured)
        out = out if isinstance(out, tuple) else (out,)
        if not results:
            results = [[] for _ in out]
        for k, value in enumerate(out):
            results[k].append(value)
    return tuple(results)
