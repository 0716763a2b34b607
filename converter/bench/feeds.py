"""The inputs each batch size is timed on: the model's example (or --inputs) rows, repeated to the batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from converter.core.errors import GraphtoolError
from converter.core.inputs import InputSpec

__all__ = ["batch_feeds", "save_feeds"]


def batch_feeds(example: dict[str, np.ndarray], specs: Sequence[InputSpec], batch: int) -> dict[str, np.ndarray]:
    """Each input with `batch` rows along its first dim (the example's rows, cycled); refused where that dim
    is fixed at another size, since no runtime of the model could take it."""
    feeds = {}
    for spec in specs:
        array = example[spec.name]
        if array.ndim == 0:
            feeds[spec.name] = array
            continue
        first = spec.dims[0] if spec.dims else None
        if isinstance(first, int) and first != batch:
            raise GraphtoolError(f"--batch {batch}: input '{spec.name}' has a fixed first dim of {first}; re-export "
                                 "the model with a dynamic batch, or bench it at --batch " + str(first))
        feeds[spec.name] = np.ascontiguousarray(np.take(array, np.arange(batch) % array.shape[0], axis=0))
    return feeds


def save_feeds(feeds: dict[str, np.ndarray], path: Path) -> Path:
    """The feeds as an .npz a worker reads."""
    np.savez(path, **feeds)
    return path
