"""Seeded input samples: dynamic dims take several sizes, integer indices stay in range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from converter.core.dynamic import resized
from converter.core.indices import index_bounds
from converter.core.inputs import InputSpec, random_array

__all__ = ["Sample", "make_samples", "index_bounds", "OTHER_SIZES", "EXERCISES"]

# Sizes for dynamic dims after the first sample (which keeps the traced size): a model that only
# works at the size it was traced with fails on one of these.
OTHER_SIZES = (3, 1, 5)
# Variants of the traced inputs' floats that take other paths through a model: a branch on a sign or a
# magnitude, a division by a norm. Integer inputs (indices, masks) stay as they were.
EXERCISES = (("negated", -1.0), ("scaled", 8.0), ("zeros", 0.0))


# Data a low-precision build is judged on, by what it is (the budget's samples)
_HELD_DATA = {"eval": "your --eval data", "calibration": "your --calibration data"}


@dataclass(frozen=True)
class Sample:
    """One set of inputs, with the size chosen for each dynamic dim."""

    index: int
    feeds: dict[str, np.ndarray]
    sizes: dict[str, int]
    seed: int | None = None  # None: the traced (or --inputs) data, not drawn
    given: bool = False  # real data from --inputs (or, for an exercise, derived from it)
    kind: str = "seeded"  # traced, seeded, given, resized, eval, calibration, or one of EXERCISES' names

    @property
    def label(self) -> str:
        """What sets this sample apart: traced or given data, the seed and draw, or the exercise; and its sizes."""
        if self.kind in _HELD_DATA:
            origin = _HELD_DATA[self.kind]
        elif self.kind in dict(EXERCISES):
            origin = f"{'your --inputs data' if self.given else 'traced inputs'} {self.kind}"
        elif self.kind == "resized":
            origin = "your --inputs data sliced or tiled"
        elif self.given:
            origin = "your --inputs data"
        elif self.seed is None:
            origin = "traced inputs"
        else:
            origin = f"seed {self.seed} draw {self.index}, standard normal floats"
        sizes = ", ".join(f"{name}={size}" for name, size in self.sizes.items())
        return f"{origin}, {sizes}" if sizes else f"{origin}, static shapes"

    def to_dict(self) -> dict:
        return {"index": self.index, "kind": self.kind, "label": self.label, "seed": self.seed, "sizes": self.sizes,
                "shapes": {name: list(array.shape) for name, array in self.feeds.items()}}


def make_samples(
    specs: Sequence[InputSpec], model: onnx.ModelProto, count: int, seed: int, first: dict[str, np.ndarray],
    from_data: bool = False,
) -> list[Sample]:
    """`first` (the traced inputs), count-1 samples with other sizes for dynamic dims, then EXERCISES.

    The other samples are seeded draws, or with `from_data` (real data, --inputs) and dynamic dims `first`
    itself sliced or tiled to sizes other than its own. The exercises (the traced inputs negated, scaled,
    zeroed) are added whenever a float input exists, so a model whose trace kept one branch of a
    value-dependent condition fails on one of them.
    """
    samples = [Sample(0, dict(first), _sizes_of(specs, first), kind="traced")]
    bounds = index_bounds(model)
    rng = np.random.default_rng(seed)
    for index in range(1, count):
        if from_data and samples[0].sizes:
            sizes = {name: _other_size(size, index) for name, size in samples[0].sizes.items()}
            feeds = {name: _resized(array, _spec_named(specs, name), sizes) for name, array in first.items()}
            samples.append(Sample(index, feeds, sizes, kind="resized"))
            continue
        sizes = {name: OTHER_SIZES[(index - 1) % len(OTHER_SIZES)] for name in _symbols(specs)}
        feeds = {spec.name: _draw(spec, sizes, first.get(spec.name), bounds.get(spec.name), rng) for spec in specs}
        samples.append(Sample(index, feeds, sizes, seed))
    if count > 1 and any(np.issubdtype(np.asarray(a).dtype, np.floating) for a in first.values()):
        for kind, factor in EXERCISES:
            feeds = {name: _exercise(name, array, factor) for name, array in first.items()}
            samples.append(Sample(len(samples), feeds, samples[0].sizes, kind=kind))
    return samples


def _other_size(size: int, index: int) -> int:
    """The index-th of OTHER_SIZES that differs from `size`, cycling."""
    others = [other for other in OTHER_SIZES if other != size]
    return others[(index - 1) % len(others)]


def _spec_named(specs: Sequence[InputSpec], name: str) -> InputSpec | None:
    return next((spec for spec in specs if spec.name == name), None)


def _resized(array: np.ndarray, spec: InputSpec | None, sizes: dict[str, int]) -> np.ndarray:
    """`array` sliced or tiled along its symbolic dims to their sizes in `sizes`."""
    if spec is None:
        return array
    axes = {axis: sizes[name] for axis, name in spec.symbolic_dims().items() if name in sizes and axis < array.ndim}
    return resized(np.asarray(array), axes)


def _exercise(name: str, array: np.ndarray, factor: float) -> np.ndarray:
    if "mask" in name.lower() or not np.issubdtype(array.dtype, np.floating):
        return array
    return (array * factor).astype(array.dtype)


def _symbols(specs: Sequence[InputSpec]) -> list[str]:
    return sorted({name for spec in specs for name in spec.symbolic_dims().values()})


def _sizes_of(specs: Sequence[InputSpec], feeds: dict[str, np.ndarray]) -> dict[str, int]:
    sizes = {}
    for spec in specs:
        if spec.name in feeds:
            for axis, name in spec.symbolic_dims().items():
                if axis < feeds[spec.name].ndim:
                    sizes[name] = int(feeds[spec.name].shape[axis])
    return sizes


def _draw(spec: InputSpec, sizes: dict[str, int], like: np.ndarray | None, bound: int | None, rng) -> np.ndarray:
    symbolic = spec.symbolic_dims()
    shape = tuple(sizes[symbolic[axis]] if axis in symbolic else int(d) for axis, d in enumerate(spec.dims))
    dtype = like.dtype.name if like is not None else spec.dtype
    return random_array(spec.name, shape, dtype, rng, bound)
