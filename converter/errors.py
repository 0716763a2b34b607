"""User-facing errors: each becomes one line on stderr and exit code 2."""

from __future__ import annotations

__all__ = ["GraphtoolError", "MissingExtraError", "UnsupportedOpError", "first_line"]


class GraphtoolError(Exception):
    """A problem with the user's input that they can fix; never a bug in graphtool."""

    exit_code = 2


class MissingExtraError(GraphtoolError):
    """An optional dependency (torch, tensorflow, ...) is not installed."""

    def __init__(self, module: str, extra: str):
        super().__init__(
            f"this needs the '{module}' package, which is not installed: "
            f"pip install 'graphtool[{extra}]'"
        )
        self.module = module
        self.extra = extra


class UnsupportedOpError(GraphtoolError):
    """A converter has no handler for a node (op type, opset or attribute)."""

    def __init__(self, node_name: str, op_type: str, opset: int, reason: str = ""):
        detail = f": {reason}" if reason else ""
        super().__init__(f"node '{node_name}' ({op_type}, opset {opset}) is not supported{detail}")
        self.node_name = node_name
        self.op_type = op_type
        self.opset = opset


def first_line(error: BaseException, limit: int = 300) -> str:
    """The line of an exception's message that says what went wrong, short enough for a one-line error."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    # TensorFlow opens with "in user code:" and a traceback; the reason is the last line.
    return (lines[-1] if lines[0].endswith(":") and len(lines) > 1 else lines[0])[:limit]
