"""What every source loader shares: lazy framework imports and quiet exporters."""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType

from converter.core.errors import MissingExtraError

__all__ = ["require", "class_names", "quiet", "console_to_stderr", "set_verbose", "quiet_environment", "listen"]

# Their handlers hold the real stderr, so redirecting sys.stderr does not silence them.
_NOISY_LOGGERS = ("torch", "torch.onnx", "torch.export", "tensorflow", "tf2onnx", "absl", "transformers")
# Read once, when TensorFlow, oneDNN, gRPC or transformers is first imported: they must be set before that.
_QUIET_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow's C++ INFO/WARNING/ERROR lines (oneDNN notice, cuInit failure)
    "TF_CPP_MIN_VLOG_LEVEL": "0",
    "ABSL_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
_verbose = False
_heard: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("graphtool_heard", default=None)


def set_verbose(verbose: bool) -> None:
    """With --verbose, the frameworks' own output reaches the terminal; otherwise quiet() silences it."""
    global _verbose
    _verbose = verbose


def quiet_environment() -> None:
    """Set the frameworks' log-level variables (unless the user set them) before any framework is imported."""
    if not _verbose:
        for name, value in _QUIET_ENVIRONMENT.items():
            os.environ.setdefault(name, value)


@contextlib.contextmanager
def listen() -> Iterator[list[str]]:
    """Collect the one-line notes quiet() makes of what mattered in the silenced output."""
    notes: list[str] = []
    token = _heard.set(notes)
    try:
        yield notes
    finally:
        _heard.reset(token)


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or say which graphtool extra installs it."""
    if sys.modules.get(module) is not None:
        return sys.modules[module]
    try:
        with quiet():  # TensorFlow logs its start-up from C++, straight to the stderr file descriptor
            return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(module.split(".")[0], extra) from error


def class_names(obj: object) -> set[str]:
    """Fully qualified names of an object's classes, without importing any framework."""
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(obj).__mro__}


@contextlib.contextmanager
def quiet() -> Iterator[list[warnings.WarningMessage]]:
    """Silence exporters' progress and C++ logging; warnings are recorded (yielded) for the caller to judge."""
    quiet_environment()
    if _verbose:
        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            yield shown
        for item in shown:  # --verbose shows them, after the caller had its look
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)
        return
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings(record=True) as caught, _silenced_fds(), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("always")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        _quiet_onnxruntime()
        try:
            yield caught
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
            _note(caught)


def _note(caught: list[warnings.WarningMessage]) -> None:
    """Turn a tracer warning into one line in the notes of whoever listens; drop the rest."""
    notes = _heard.get()
    if notes is None:
        return
    for item in caught:
        if item.category.__name__ != "TracerWarning":
            continue
        text = " ".join(str(item.message).split())
        note = f"tracing: {text}"
        if note not in notes:
            notes.append(note)


def _quiet_onnxruntime() -> None:
    # onnxruntime logs graph-optimizer warnings from C++; only its errors matter, and those raise.
    module = sys.modules.get("onnxruntime")
    if module is not None:
        module.set_default_logger_severity(3)


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
