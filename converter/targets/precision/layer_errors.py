"""Each node's error in a low-precision ONNX build against the float model, compared a bounded chunk at a time."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from converter.core.onnx_utils import graph_inputs, with_outputs
from converter.core.precision import LayerError
from converter.core.runners import ort_runner

__all__ = ["Counterpart", "counterparts", "layer_errors", "relative_rms"]

CHUNK_BYTES = 64 * 2**20  # intermediates held per run of each model
_FIRST_CHUNK = 16


@dataclass(frozen=True)
class Counterpart:
    """A float node, the values it reads and makes, and where the build holds the same values."""

    node: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[tuple[str, str], ...]  # (name in the float model, name in the build)


def counterparts(reference: onnx.ModelProto, build: onnx.ModelProto,
                 aliases: Mapping[str, str] | None = None) -> list[Counterpart]:
    """The float model's nodes in order, each output paired with the build's value of that name (or its alias:
    the name readers see it under, e.g. after a quantize-dequantize pair), else with the output of the build's
    node of the same name (a conversion that renames a node's output, e.g. a float node feeding another float
    node in a float16 build)."""
    aliases = aliases or {}
    made = {output for node in build.graph.node for output in node.output if output}
    by_name = {node.name: node for node in build.graph.node if node.name}
    pairs = []
    for node in reference.graph.node:
        twin = by_name.get(node.name)
        outputs = []
        for index, output in enumerate(node.output):
            if output in made:
                outputs.append((output, aliases.get(output, output)))
            elif twin is not None and index < len(twin.output) and twin.output[index] in made:
                outputs.append((output, twin.output[index]))
        if outputs:
            pairs.append(Counterpart(node.name, node.op_type, tuple(i for i in node.input if i), tuple(outputs)))
    return pairs


def relative_rms(expected: np.ndarray, actual: np.ndarray) -> float:
    """RMS of the difference over RMS of the expected value (inf where the build is not finite and float is)."""
    expected, actual = expected.astype(np.float64), actual.astype(np.float64)
    if not np.array_equal(np.isfinite(expected), np.isfinite(actual)):
        return math.inf
    finite = np.isfinite(expected)
    difference = np.sqrt(np.mean(np.square(expected[finite] - actual[finite]))) if finite.any() else 0.0
    scale = np.sqrt(np.mean(np.square(expected[finite]))) if finite.any() else 0.0
    return float(difference / scale) if scale > 0 else float(difference)


@dataclass(frozen=True)
class _Value:
    error: float
    overflows: bool
    peak: float  # max |x| in the float run


def layer_errors(
    reference: onnx.ModelProto, build: onnx.ModelProto, feeds: dict[str, np.ndarray], keep_float: Sequence[str],
    *, limit: float | None = None, kind: str = "", folder: Path | None = None, aliases: Mapping[str, str] | None = None,
) -> list[LayerError]:
    """Each node's error, the node that introduces the most first (an overflow above `limit` before anything).

    `limit`: the largest finite value of the build's type (float16: 65504); a float value beyond it overflows.
    Nodes in `keep_float` are left out, but a value they make that still overflows is charged to its readers.
    `aliases`: float model value -> the build's name for it, where readers see it under another name.
    """
    pairs = counterparts(reference, build, aliases)
    kept = set(keep_float)
    producer = {output: pair.node for pair in pairs for output, _ in pair.outputs}
    values = _input_values(reference, feeds, limit)
    for chunk in _chunks(pairs, reference, build, feeds, folder):
        for (name, _), expected, actual in chunk:
            values[name] = _value(expected, actual, limit)
    errors = []
    for pair in pairs:
        outputs = [values[name] for name, _ in pair.outputs if name in values]
        if not outputs or pair.node in kept:
            continue
        # an input's overflow is this node's to fix when it comes from a float source: cast to the build's type here
        inherited = [values[name] for name in pair.inputs if name in values and producer.get(name) not in kept
                     and name in producer]
        handed = [values[name] for name in pair.inputs if name in values and (producer.get(name) in kept
                                                                             or name not in producer)]
        errors.append(_layer_error(pair, outputs, inherited, handed, kind))
    return sorted(errors, key=lambda e: (not e.extra["introduces_overflow"], -e.introduced, -e.error))


def _input_values(reference: onnx.ModelProto, feeds: dict[str, np.ndarray], limit: float | None) -> dict[str, _Value]:
    values = {}
    for value in graph_inputs(reference.graph):
        array = feeds.get(value.name)
        if array is not None and np.issubdtype(array.dtype, np.floating):
            peak = float(np.max(np.abs(array), initial=0.0))
            overflows = limit is not None and peak > limit
            values[value.name] = _Value(math.inf if overflows else 0.0, overflows, peak)
    return values


def _value(expected: np.ndarray, actual: np.ndarray, limit: float | None) -> _Value:
    finite = np.isfinite(expected)
    peak = float(np.max(np.abs(expected[finite]), initial=0.0))
    error = relative_rms(expected, actual)
    overflows = (limit is not None and peak > limit) or bool(np.any(~np.isfinite(actual) & finite))
    return _Value(math.inf if overflows else error, overflows, peak)


def _layer_error(pair: Counterpart, outputs: list[_Value], inherited: list[_Value], handed: list[_Value],
                 kind: str) -> LayerError:
    error = max(value.error for value in outputs)
    overflows = any(value.overflows for value in outputs) or any(value.overflows for value in handed)
    introduces = overflows and not any(value.overflows for value in inherited)
    carried = max((value.error for value in (*inherited, *handed) if not value.overflows), default=0.0)
    if introduces:
        introduced = math.inf
    elif math.isinf(error):
        introduced = 0.0
    else:
        introduced = max(0.0, error - carried)
    peak = max(value.peak for value in (*outputs, *handed))
    detail = f"overflows {kind}: max |x| {peak:.3g}" if introduces else ""
    return LayerError(pair.node, pair.op_type, error, introduced, detail,
                      {"introduces_overflow": introduces, "max_abs": peak})


def _chunks(pairs: list[Counterpart], reference: onnx.ModelProto, build: onnx.ModelProto,
            feeds: dict[str, np.ndarray], folder: Path | None):
    """(names, float value, build value) of every float output, run a chunk of outputs at a time."""
    outputs = [names for pair in pairs for names in pair.outputs]
    start, size = 0, _FIRST_CHUNK
    while start < len(outputs):
        chunk = outputs[start:start + size]
        expected = ort_runner(with_outputs(reference, [name for name, _ in chunk]), folder=folder)(feeds)
        kept = [(names, value) for names, value in zip(chunk, expected, strict=True)
                if np.issubdtype(value.dtype, np.floating)]
        actual = ort_runner(with_outputs(build, [name for (_, name), _ in kept]))(feeds) if kept else []
        yield [(names, value, other) for (names, value), other in zip(kept, actual, strict=True)]
        held = sum(value.nbytes for value in expected) + sum(value.nbytes for value in actual)
        start += len(chunk)
        size = max(1, int(CHUNK_BYTES / max(held / len(chunk), 1)))
