"""Bound slow work (tracing a model that hangs) with a wall-clock deadline; Ctrl-C and SIGTERM, which end work."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator

from converter.core.errors import GraphtoolError

__all__ = ["deadline", "terminate_as_interrupt", "uninterrupted", "IMPORT_GRACE_S"]

# An import under way when the deadline passes may finish first, for up to this long: interrupted, it would
# leave the package (torch, TensorFlow) half-initialized in this process, and every later load would fail.
IMPORT_GRACE_S = 120.0
_RECHECK_S = 0.05


class _Expired(BaseException):
    """The deadline's interruption: like Ctrl-C, not an Exception, so a converter's `except Exception` that moves
    on to its next strategy does not swallow it; `deadline` turns it into the GraphtoolError the user sees."""


@contextlib.contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Raise GraphtoolError if the block runs past `seconds` (main thread only; None: no limit).

    The interruption is raised between imports, never inside one (for at most IMPORT_GRACE_S more); a block that
    ends otherwise after it fired (it swallowed even that) ends with the error all the same.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    give_up = time.monotonic() + seconds + IMPORT_GRACE_S
    message = (f"{what} did not finish within {seconds:g} s (--timeout); the model may hang when traced: check "
               "it, or allow more time")
    fired: list[bool] = []

    def expire(signum, frame):
        if _importing() and time.monotonic() < give_up:
            signal.setitimer(signal.ITIMER_REAL, _RECHECK_S)  # look again once the import may be done
            return
        fired.append(True)
        raise _Expired(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired as expired:
        raise GraphtoolError(message) from expired
    except Exception as exc:
        if fired:
            raise GraphtoolError(message) from exc
        raise
    else:
        if fired:
            raise GraphtoolError(message)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _importing() -> bool:
    """Whether an `import` is executing a module now (importlib marks its spec until the module is done)."""
    return any(getattr(getattr(module, "__spec__", None), "_initializing", False)
               for module in list(sys.modules.values()))


def terminate_as_interrupt() -> None:
    """Let SIGTERM unwind like Ctrl-C, so temporary outputs are removed on the way out."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done, then deliver them: a step that must not be cut halfway
    (a result written and its row recorded) happens whole. Outside the main thread no signal arrives anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    # None: a handler set outside Python, which cannot be put back; those signals are not held
    previous = {signum: handler for signum in (signal.SIGINT, signal.SIGTERM)
                if (handler := signal.getsignal(signum)) is not None}
    for signum in previous:
        signal.signal(signum, lambda number, frame: held.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)  # the handler put back runs now: KeyboardInterrupt, or whatever it does
