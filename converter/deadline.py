"""Bound slow work (tracing a model that hangs) with a wall-clock deadline."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from converter.errors import GraphtoolError

__all__ = ["deadline", "terminate_as_interrupt"]


@contextlib.contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Raise GraphtoolError if the block runs past `seconds` (main thread only; None: no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise GraphtoolError(f"{what} did not finish within {seconds:g} s (--timeout); the model may hang "
                             "when traced: check it, or allow more time")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def terminate_as_interrupt() -> None:
    """Let SIGTERM unwind like Ctrl-C, so temporary outputs are removed on the way out."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
