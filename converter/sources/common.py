"""What every source loader shares: lazy framework imports and quiet exporters."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType

from converter.errors import MissingExtraError

__all__ = ["require", "class_names", "quiet", "console_to_stderr"]

# Their handlers hold the real stderr, so redirecting sys.stderr does not silence them.
_NOISY_LOGGERS = ("torch", "torch.onnx", "torch.export", "tensorflow", "tf2onnx", "absl")


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or say which graphtool extra installs it."""
    if sys.modules.get(module) is not None:
        return sys.modules[module]
    try:
        with quiet():  # TensorFlow logs its start-up from C++, straight to the stderr file descriptor
            return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(module.split(".")[0], extra) from None


def class_names(obj: object) -> set[str]:
    """Fully qualified names of an object's classes, without importing any framework."""
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(obj).__mro__}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence exporters' progress, warnings and C++ logging, so graphtool's own output stays clean."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings(), _silenced_fds(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


@contextlib.contextmanager
def console_to_stderr() -> Iterator[None]:
    """A model's own prints (tf.print, TorchScript print) go to stderr, so stdout keeps only graphtool's output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def _silenced_fds() -> Iterator[None]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
