"""Building graph views of 100k-node models: Python's cyclic GC, not the work, would take a third of the time."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

__all__ = ["fewer_collections", "release"]


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """No cyclic collection inside the block: the graph views and the matcher's hashes allocate millions of
    tuples and dicts that live until the block ends, so every pass would only walk them again (a raised
    threshold still left 1.8 s of a 100k-node diff to the collector); reference counting frees the rest."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            _promote_survivors()
            gc.enable()


def _promote_survivors() -> None:
    """Move every tracked object to the oldest generation without walking them: the first young collection after
    the block would otherwise walk all it allocated that still lives (0.2 s after a 100k-node diff: its renames
    and matches) only to keep them; cyclic garbage made in the block waits for the next full collection. A
    program's own frozen objects (gc.freeze) are left frozen."""
    if gc.get_freeze_count():
        return
    gc.freeze()
    gc.unfreeze()


def release(*graphs: Any) -> None:
    """Empty graph views that are no longer needed: networkx's cached views (G.edges) hold their graph in a
    cycle, so without this a 100k-node view waits for a full collection (2 s at 100k nodes) or for the exit."""
    for graph in graphs:
        graph.clear()
