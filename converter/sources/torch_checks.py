"""Checks right after a capture: data-dependent branches the trace baked in, dynamic dims it fixed."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converter.core.inputs import InputSpec, random_array

__all__ = ["CaptureRefused", "is_framework", "source_line", "user_line", "check_tracer_warnings", "specialized_dims"]

_FRAME = re.compile(r'File "([^"]+)", line (\d+)(?:, in \w+)?\n\s*(.+)')
# The TorchScript tracer's warnings that mean the trace kept only the branch or value of the example input.
_BAKED = ("Converting a tensor to a Python boolean",)


class CaptureRefused(Exception):
    """A capture that succeeded but would give a wrong model; the message says where and what to do."""


def is_framework(path: str) -> bool:
    """A file of torch, an installed library or graphtool's own sources: not where the user's model is written."""
    parts = ("site-packages", "dist-packages", "/torch/", "/transformers/", "/converter/sources/")
    return any(part in path for part in parts)


def user_line(text: str) -> str | None:
    """`file.py:LINE (code)` of the first user frame an exporter's message quotes, if any."""
    for path, line, code in _FRAME.findall(text):
        if not is_framework(path):
            return f"{Path(path).name}:{line} (`{code.strip()}`)"
    return None


def check_tracer_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    """Refuse a TorchScript trace that turned a tensor into a Python bool: a data-dependent branch."""
    for warning in caught:
        if (type(warning.message).__name__ == "TracerWarning" and str(warning.message).startswith(_BAKED)
                and not is_framework(warning.filename)):  # torch's own checks (an RNN's input size) are static
            where = f"{Path(warning.filename).name}:{warning.lineno}"
            code = source_line(warning.filename, warning.lineno)
            raise CaptureRefused(
                f"data-dependent branch at {where}{f' (`{code}`)' if code else ''}: the trace keeps only the "
                "branch the example input took; rewrite it with torch.where or torch.cond"
            )


def source_line(path: str, line: int) -> str:
    """The stripped text of a file's line; empty where it cannot be read."""
    try:
        return Path(path).read_text().splitlines()[line - 1].strip()
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


def specialized_dims(model: onnx.ModelProto, specs: Sequence[InputSpec], run: Any) -> list[str]:
    """Dims the export fixed although the user declared them dynamic; an output's stale shape is mended.

    The source runs once more with each dynamic dim at another size. A dynamic input the graph fixed, or
    an output the graph cannot compute at that size, is specialized. An output the graph computes
    right but declares with the traced size (torch.export's RNNs) gets the symbolic name back.
    """
    symbols = sorted({name for spec in specs for name in spec.symbolic_dims().values()})
    if not symbols:
        return []
    fixed = []
    for value in model.graph.input:
        spec = next((s for s in specs if s.name == value.name), None)
        dims = value.type.tensor_type.shape.dim
        if spec is not None:
            fixed += [f"input {value.name} dim {axis} ({name})" for axis, name in spec.symbolic_dims().items()
                      if axis < len(dims) and dims[axis].HasField("dim_value")]
    if fixed:
        return fixed
    sizes = {name: 3 + index for index, name in enumerate(symbols)}
    rng = np.random.default_rng(1)
    feeds = {s.name: random_array(s.name, _other_shape(s, sizes), s.dtype, rng, 2) for s in specs}
    try:
        expected = [np.asarray(o) for o in run(feeds)]
    except Exception:  # noqa: BLE001 - the model cannot run at another size: validation reports it
        return []
    stale = [(value, axis, array.shape[axis]) for value, array in zip(model.graph.output, expected, strict=False)
             for axis, dim in enumerate(value.type.tensor_type.shape.dim)
             if dim.HasField("dim_value") and axis < array.ndim and array.shape[axis] != dim.dim_value]
    if not stale:
        return []
    actual = _run_onnx(model, feeds)
    by_size = {size: name for name, size in sizes.items()}
    if actual is not None and [a.shape for a in actual] == [e.shape for e in expected]:
        for value, axis, size in stale:  # computed right, declared wrong: name the dim again
            value.type.tensor_type.shape.dim[axis].dim_param = by_size.get(size, f"{value.name}_dim{axis}")
        return []
    return [f"output {value.name} dim {axis} (fixed at {value.type.tensor_type.shape.dim[axis].dim_value}, "
            f"is {size})" for value, axis, size in stale]


def _run_onnx(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None:
    import onnxruntime

    try:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # the stale output shape is what is being checked: no warning about it
        session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        # the exporter names inputs its own way (args_0, ...) until normalize renames them: feed by position
        inputs = dict(zip((i.name for i in session.get_inputs()), feeds.values(), strict=False))
        return [np.asarray(o) for o in session.run(None, inputs)]
    except Exception:  # noqa: BLE001 - a graph that cannot run at the other size is specialized
        return None


def _other_shape(spec: InputSpec, sizes: dict[str, int]) -> tuple[int, ...]:
    symbolic = spec.symbolic_dims()
    return tuple(sizes[symbolic[axis]] if axis in symbolic else int(d) for axis, d in enumerate(spec.dims))
