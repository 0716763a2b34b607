"""Where a conversion's time goes: named stages, timed exclusively (a nested stage's time is not its parent's)."""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["StageTimer", "stage"]

_ACTIVE: contextvars.ContextVar[StageTimer | None] = contextvars.ContextVar("graphtool_stage_timer", default=None)


@dataclass
class StageTimer:
    """Seconds per stage, in the order stages first ran; `with timer:` makes it the one `stage` records into."""

    seconds: dict[str, float] = field(default_factory=dict)
    _open: list[list] = field(default_factory=list)  # [name, start, time spent in nested stages]
    _token: contextvars.Token | None = None

    def __enter__(self) -> StageTimer:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.reset(self._token)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as `name`, less the time of stages nested in it."""
        self.seconds.setdefault(name, 0.0)  # reported in the order stages start
        entry = [name, time.perf_counter(), 0.0]
        self._open.append(entry)
        try:
            yield
        finally:
            self._open.pop()
            elapsed = time.perf_counter() - entry[1]
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - entry[2]
            if self._open:
                self._open[-1][2] += elapsed

    def to_dict(self) -> dict[str, float]:
        return {name: round(value, 3) for name, value in self.seconds.items()}


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as `name` in the active StageTimer; nothing when none is active."""
    timer = _ACTIVE.get()
    if timer is None:
        yield
        return
    with timer.stage(name):
        yield
