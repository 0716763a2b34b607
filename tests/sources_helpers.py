"""Assertions shared by the source tests: numeric agreement between ONNX and the source framework."""

from __future__ import annotations

import numpy as np

from converter.core.runners import ort_runner
from converter.core.types import LoadedModel


def assert_agrees(loaded: LoadedModel, feeds: dict[str, np.ndarray] | None = None) -> None:
    """ONNX under onnxruntime matches the source within 1e-5 max abs error (relative to scale above 1)."""
    feeds = feeds if feeds is not None else loaded.example_inputs
    actual = ort_runner(loaded.model).run(feeds)
    expected = loaded.reference(feeds)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.shape == want.shape
        scale = max(1.0, float(np.abs(want).max()))
        assert float(np.abs(got - want).max()) <= 1e-5 * scale


def resized(feeds: dict[str, np.ndarray], axis: int, size: int) -> dict[str, np.ndarray]:
    """The same inputs with one axis resized (seeded data), to exercise dynamic dims."""
    rng = np.random.default_rng(7)
    out = {}
    for name, array in feeds.items():
        shape = list(array.shape)
        shape[axis] = size
        out[name] = rng.standard_normal(shape).astype(array.dtype)
    return out
