"""User-facing errors: each becomes one line on stderr and exit code 2."""

from __future__ import annotations

import re

__all__ = ["GraphtoolError", "MissingExtraError", "UnsupportedOpError", "first_line", "plain"]

# Terminal colour and cursor codes, which onnxruntime and absl put in their messages.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


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


_TF_NODE = re.compile(r"\[\[\{\{node ([^}]+)\}\}\]\]")


def _graph_execution_line(lines: list[str]) -> str | None:
    """A TensorFlow run-time failure: its reason (with the shape it names) and the node that raised it.

    TensorFlow's message is "Graph execution error:", where the node was defined, the reason, and then
    `[[{{node NAME}}]]`; the first or last line alone would lose the reason or the node.
    """
    at = next((i for i, line in enumerate(lines) if _TF_NODE.search(line)), None)
    if at is None:
        return None
    node = _TF_NODE.search(lines[at]).group(1)
    reasons = [line for line in lines[:at] if not line.startswith(("File ", "Detected at node", "Graph execution"))]
    reason = reasons[-1] if reasons else lines[at]
    return f"{reason.rstrip('.')} (at TensorFlow node {node})"


def plain(text: str) -> str:
    """Text without terminal escape codes."""
    return _ANSI.sub("", text)


def first_line(error: BaseException, limit: int | None = None) -> str:
    """The line of an exception's message that says what went wrong, whole unless `limit` (then marked cut)."""
    lines = [line.strip() for line in plain(str(error)).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    # TensorFlow opens with "in user code:" and a traceback; the reason is the last line.
    line = _graph_execution_line(lines) or (lines[-1] if lines[0].endswith(":") and len(lines) > 1 else lines[0])
    if limit is not None and len(line) > limit:
        return line[: limit - 1] + "…"
    return line
