"""Data-dependent code in a torch capture: where it is (the user's line, the library's), and what the trace kept."""

from __future__ import annotations

import re
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from converter.core.indices import index_bounds
from converter.core.inputs import InputSpec, random_array
from converter.core.types import Reference
from converter.sources.torch_checks import CaptureRefused, is_framework, source_line

__all__ = ["SUGGESTION", "guard_site", "traced_branches", "check_dropped_inputs", "check_other_paths"]

SUGGESTION = "rewrite it with torch.cond or torch.where"
# TorchScript tracer warnings that mean the trace recorded one value of a tensor as a Python constant
_DATA_DEPENDENT = ("Converting a tensor to a Python", "Iterating over a tensor")
# FX runs the code it generated from a file named after the user's line: "<eval_with_key>.0 from f.py:12 in forward"
_GENERATED = re.compile(r"^<[^>]*>(?:\.\d+)? from (.+):(\d+) in \w+$")
_FAILED_NODE = re.compile(r"running (\w+) node\. Name:'([^']*)'")
# library frames with a known way around their data-dependent check
_HINTS = {
    "torch/nn/modules/transformer.py": "nn.Transformer checks whether tgt_mask is causal: for a causal mask pass "
                                       "tgt_is_causal=True, which skips that check",
}
# torch's own tracing machinery, below the library code that asked for a data-dependent value
_MACHINERY = ("/torch/fx/", "/torch/_export/", "/torch/_subclasses/", "/torch/_dynamo/", "/torch/_ops.py",
              "/torch/overrides.py", "/torch/utils/", "/torch/_prims", "/torch/_refs/", "/torch/_decomp/",
              "/torch/_tensor.py", "/torch/_higher_order_ops/", "/torch/_library/", "/torch/onnx/",
              "/torch/export/")


@dataclass(frozen=True)
class Site:
    """A frame: its file and line, shown as `file.py:LINE` for the user's, `torch/nn/...py:LINE` for a library's."""

    path: str
    line: int

    def __str__(self) -> str:
        code = source_line(self.path, self.line)
        return f"{_short(self.path)}:{self.line}{f' (`{code}`)' if code else ''}"

    def hint(self) -> str:
        return next((text for key, text in _HINTS.items() if self.path.replace("\\", "/").endswith(key)), "")


def _short(path: str) -> str:
    """A library's path from its package (torch/nn/...), a user's file by its name."""
    posix = path.replace("\\", "/")
    for marker in ("site-packages/", "dist-packages/"):
        if marker in posix:
            return posix.rsplit(marker, 1)[1]
    return Path(path).name


def _site(path: str, line: int) -> Site:
    generated = _GENERATED.match(path)
    return Site(generated.group(1), int(generated.group(2))) if generated else Site(path, line)


def guard_site(error: BaseException) -> str | None:
    """Where torch.export met a data-dependent value: the user's innermost line, the library line it happened in."""
    frames = [_site(f.filename, f.lineno or 0) for f in traceback.extract_tb(error.__traceback__)]
    # code compiled from a string (`<string>:1`) is no line the user can open
    users = [i for i, site in enumerate(frames) if not is_framework(site.path) and not site.path.startswith("<")]
    after = frames[users[-1] + 1:] if users else frames
    library = [site for site in after if not any(part in site.path.replace("\\", "/") for part in _MACHINERY)
               and is_framework(site.path) and "/converter/" not in site.path.replace("\\", "/")]
    parts = [str(frames[users[-1]])] if users else []
    if library:
        parts.append(f"inside {library[-1]}" if parts else str(library[-1]))
    if not parts:
        return None
    hint = library[-1].hint() if library else ""
    return f"data-dependent branch at {', '.join(parts)}: torch.export cannot decide it at trace time; " \
           f"{SUGGESTION}{f'; {hint}' if hint else ''}"


def traced_branches(caught: Sequence[warnings.WarningMessage]) -> list[Site]:
    """Where the tracer turned a tensor into a Python value (user or library code), each place once."""
    sites: list[Site] = []
    for warning in caught:
        if type(warning.message).__name__ == "TracerWarning" and str(warning.message).startswith(_DATA_DEPENDENT):
            site = Site(warning.filename, warning.lineno)
            if site not in sites:
                sites.append(site)
    return sorted(sites, key=lambda s: is_framework(s.path))  # the user's own lines first


def _where(sites: Sequence[Site], shown: int = 3) -> str:
    more = f" and {len(sites) - shown} more place(s)" if len(sites) > shown else ""
    return f"{', '.join(map(str, sites[:shown]))}{more}" if sites else "no line the tracer named"


def check_dropped_inputs(model: onnx.ModelProto, specs: Sequence[InputSpec], sites: Sequence[Site]) -> None:
    """Refuse a trace that left out an input it was given: it computed without it, for the example's values."""
    present = {value.name for value in model.graph.input}
    dropped = [spec.name for spec in specs if spec.name not in present]
    if dropped:
        hint = next((site.hint() for site in sites if site.hint()), "")
        raise CaptureRefused(
            f"input {', '.join(dropped)} is not in the traced graph: the trace never read it, so the converted "
            f"model would ignore it; capture with --trace export, or where the model branches on its values, "
            f"{SUGGESTION}{f'; {hint}' if hint else ''}")


def check_other_paths(
    model: onnx.ModelProto, traced: dict[str, np.ndarray], run: Reference, sites: Sequence[Site]
) -> None:
    """Run the capture on inputs that take other paths (seeded draws, the traced ones negated and scaled);
    refuse it, naming where the trace turned a tensor into a Python value, where it and the model disagree."""
    session = _session(model)
    try:
        first, again = ([np.asarray(o) for o in run(traced)] for _ in range(2))
    except Exception:  # noqa: BLE001 - the model fails on its own example: validation reports that
        return
    if _differs(session, traced, first) or not all(np.array_equal(a, b) for a, b in zip(first, again, strict=True)):
        return  # wrong on the traced path too, or nondeterministic: not a path question, validation judges it
    for label, feeds in _other_inputs(traced, index_bounds(model)):
        try:
            expected = [np.asarray(o) for o in run(feeds)]
        except Exception:  # noqa: BLE001 - the model itself cannot run on this draw: nothing to hold the capture to
            continue
        differs = _differs(session, feeds, expected)
        if differs:
            raise CaptureRefused(
                f"data-dependent code at {_where(sites)}: the trace kept only the path the example input took "
                f"and gives other results on {label} ({differs}); {SUGGESTION}, or capture with --trace export")


def _other_inputs(traced: dict[str, np.ndarray], bounds: dict[str, int]) -> list[tuple[str, dict]]:
    """Seeded draws of every input but masks (token ids within their table), then the float ones negated, scaled."""
    rng = np.random.default_rng(0)
    drawn = {name for name, a in traced.items() if a.dtype != bool and "mask" not in name.lower()}
    floats = {name for name in drawn if np.issubdtype(traced[name].dtype, np.floating)}
    chosen = []
    for draw in range(3) if drawn else ():
        feeds = {name: random_array(name, a.shape, a.dtype.name, rng, bounds.get(name)) if name in drawn else a
                 for name, a in traced.items()}
        chosen.append((f"seeded draw {draw}", feeds))
    for label, factor in (("the example negated", -1.0), ("the example scaled by 8", 8.0)) if floats else ():
        chosen.append((label, {name: (a * factor).astype(a.dtype) if name in floats else a
                               for name, a in traced.items()}))
    return chosen


def _session(model: onnx.ModelProto) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _run_options() -> Any:
    """Run options that keep onnxruntime's own log of a failing node off the console: the failure is reported."""
    import onnxruntime

    options = onnxruntime.RunOptions()
    options.log_severity_level = 4
    return options


def _differs(session: Any, feeds: dict[str, np.ndarray], expected: list[np.ndarray]) -> str:
    """What sets the capture's outputs apart from the model's on these feeds; empty when they agree."""
    names = {i.name for i in session.get_inputs()}
    try:
        quiet = _run_options()
        actual = [np.asarray(o) for o in session.run(None, {k: v for k, v in feeds.items() if k in names}, quiet)]
    except Exception as error:  # noqa: BLE001 - a baked shape that no longer fits is a disagreement too
        node = _FAILED_NODE.search(str(error))
        return f"the capture fails to run: {f'{node[1]} node {node[2]}' if node else str(error).splitlines()[0][:120]}"
    for index, (got, want) in enumerate(zip(actual, expected, strict=False)):
        if got.shape != want.shape:
            return f"output {index} has shape {list(got.shape)}, the model's {list(want.shape)}"
        if want.size and np.issubdtype(want.dtype, np.number):
            scale = max(1.0, float(np.max(np.abs(want))))
            gap = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
            if not gap <= 1e-3 * scale:
                return f"output {index} differs by up to {gap:.3g}"
        elif not np.array_equal(got, want):
            return f"output {index} differs"
    return ""
