"""Which dims stay dynamic when data gives only values (--inputs), and data resized to other sizes of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from converter.core.inputs import SYMBOLIC_EXAMPLE_SIZE, InputSpec

__all__ = ["BATCH", "SEQUENCE", "free_dims", "fixed_dims", "resized", "traceable"]

BATCH = "batch"
SEQUENCE = "sequence"  # the second dim of integer token inputs (ids, masks) of rank 2


def free_dims(specs: Sequence[InputSpec], keep: Iterable[str] = ()) -> tuple[list[InputSpec], list[str]]:
    """The specs with axis 0 (and axis 1 of rank-2 integer inputs) symbolic, except those named in `keep`.

    Inputs whose data agree on a dim's size share its name (`batch`, `sequence`); otherwise each input gets
    its own. Returns the specs and what was freed, as 'input x dim 0 (batch)'.
    """
    keep = set(keep)
    chosen = {spec.name: _free_axes(spec) for spec in specs if spec.name not in keep}
    names = {role: _shared_name(role, [(s, axis) for s in specs for axis, r in chosen.get(s.name, {}).items()
                                       if r == role]) for role in (BATCH, SEQUENCE)}
    result, freed = [], []
    for spec in specs:
        dims = list(spec.dims)
        for axis, role in chosen.get(spec.name, {}).items():
            dims[axis] = names[role] or f"{spec.name}_{role}"
            freed.append(f"input {spec.name} dim {axis} ({dims[axis]})")
        result.append(replace(spec, dims=tuple(dims)))
    return result, freed


def _free_axes(spec: InputSpec) -> dict[int, str]:
    """Axis -> role of the fixed dims of `spec` that data does not fix: its batch, a token input's sequence."""
    axes = {}
    if spec.dims and isinstance(spec.dims[0], int):
        axes[0] = BATCH
    if len(spec.dims) == 2 and spec.dtype.startswith(("int", "uint")) and isinstance(spec.dims[1], int):
        axes[1] = SEQUENCE
    return axes


def _shared_name(role: str, dims: list[tuple[InputSpec, int]]) -> str | None:
    """`role` where every input freed for it has the same size there; None (a name per input) otherwise."""
    return role if len({spec.dims[axis] for spec, axis in dims}) <= 1 else None


def fixed_dims(specs: Sequence[InputSpec], feeds: Mapping[str, np.ndarray]) -> list[InputSpec]:
    """Every dim at the size of the data: what --static asks for."""
    return [replace(spec, dims=tuple(int(d) for d in np.shape(feeds[spec.name]))) if spec.name in feeds else spec
            for spec in specs]


def resized(array: np.ndarray, sizes: Mapping[int, int]) -> np.ndarray:
    """`array` sliced or tiled along each axis to its size in `sizes` (axis -> size)."""
    for axis, size in sizes.items():
        have = array.shape[axis]
        if have == 0 or size == have:
            continue
        reps = -(-size // have)
        array = np.take(np.concatenate([array] * reps, axis=axis) if reps > 1 else array, range(size), axis=axis)
    return array


def traceable(array: np.ndarray, spec: InputSpec) -> np.ndarray:
    """`array` tiled to SYMBOLIC_EXAMPLE_SIZE on each symbolic dim it has at size 1: an exporter fixes a dim it
    sees at 1 (0/1 specialization)."""
    sizes = {axis: SYMBOLIC_EXAMPLE_SIZE for axis in spec.symbolic_dims()
             if axis < array.ndim and array.shape[axis] == 1}
    return resized(array, sizes)
