"""A sample's own float32 noise floor: how far the reference moves on its own, for judging an ill-conditioned
sample (a LayerNorm over a constant) against what float32 can tell there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from converter.core.errors import first_line
from converter.core.runners import Runner
from converter.validation.metrics import MAX_FLOOR, NOISE_FACTOR
from converter.validation.samples import Sample

__all__ = ["NoiseFloors", "SourceRuns", "record", "run_outputs"]


def run_outputs(runner: Runner, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | str:
    """The runner's outputs, or why it failed, in one line."""
    try:
        return [np.asarray(o) for o in runner.run(feeds)]
    except Exception as error:  # a model that fails on a sample is a finding, not a crash
        return f"{runner.name} failed: {type(error).__name__}: {first_line(error)}"


@dataclass(frozen=True)
class SourceRuns:
    """Every answer validation may ask of the expected side, given up front so that it can be freed: its outputs
    on each sample, then (for the noise floor) each sample again and moved by one ulp; a sample the side failed
    on is not run again."""

    outputs: list
    again: list
    nudged: list


def record(runner: Runner, samples: Sequence[Sample], noise: bool = True) -> SourceRuns:
    """Run `runner` on `samples` as validation would: every sample, then each one again and nudged (without
    `noise`, not: the runs stand in for those, so that no noise floor widens the judgement)."""
    outputs = [run_outputs(runner, sample.feeds) for sample in samples]
    if not noise:
        return SourceRuns(outputs, list(outputs), list(outputs))
    again: list = []
    nudged: list = []
    for sample, output in zip(samples, outputs, strict=True):
        failed = isinstance(output, str)
        again.append(output if failed else run_outputs(runner, sample.feeds))
        nudged.append(output if failed else run_outputs(runner, _nudged(sample.feeds)))
    return SourceRuns(outputs, again, nudged)


class NoiseFloors:
    """A sample's float32 noise floor per output, measured once a sample: the most that the expected side moves
    when its float inputs move by one ulp (of max(|x|, 1)), and that two float32 runtimes of one graph disagree.

    `recorded`: the expected side's runs made up front (`record`), used instead of running it again."""

    def __init__(self, expected: Runner, pair: tuple[Runner, Runner] | None, samples: Sequence[Sample],
                 expected_outputs: list, recorded: SourceRuns | None = None) -> None:
        self.expected, self.pair, self.samples, self.outputs = expected, pair, samples, expected_outputs
        self.recorded = recorded
        self.label = "the reference with its inputs moved by one ulp" + (
            f"; {pair[0].name} against {pair[1].name}" if pair else "")
        self.runs: dict[int, list[tuple[list[np.ndarray] | str, list[np.ndarray] | str]]] = {}
        self.nondeterministic: set[int] = set()  # samples on which the reference answered twice differently

    def floor(self, sample: Sample, index: int, allowed: float, scale: float) -> float | None:
        """The floor, where it exceeds what the tolerance allows (an ill-conditioned sample) yet stays rounding
        noise (under MAX_FLOOR of the scale, and the reference gives the same answer twice); else None."""
        position = self.samples.index(sample)
        if isinstance(self.outputs[position], str):
            return None
        if position not in self.runs:
            again, nudged = self._source_runs(position, sample)
            count = len(again) if not isinstance(again, str) else 0
            if any(_max_difference(self.outputs[position], again, i) for i in range(count)):
                self.nondeterministic.add(sample.index)
            runs = [(self.outputs[position], nudged)]
            if self.pair is not None:
                runs.append((run_outputs(self.pair[0], sample.feeds), run_outputs(self.pair[1], sample.feeds)))
            self.runs[position] = runs
        if sample.index in self.nondeterministic:
            return None
        floors = [_max_difference(first, second, index) for first, second in self.runs[position]]
        floor = max((f for f in floors if f is not None), default=None)
        return floor if floor is not None and allowed < NOISE_FACTOR * floor <= MAX_FLOOR * scale else None

    def _source_runs(self, position: int, sample: Sample) -> tuple:
        """The expected side on the sample again, and on it moved by one ulp: recorded, or run now."""
        if self.recorded is not None:
            return self.recorded.again[position], self.recorded.nudged[position]
        again = run_outputs(self.expected, sample.feeds)
        return again, run_outputs(self.expected, _nudged(sample.feeds))

    def diagnosis(self) -> tuple[str, ...]:
        """A line for the samples on which the reference answered twice differently."""
        if not self.nondeterministic:
            return ()
        return (f"{self.expected.name} gives another answer when run again on the same inputs (sample(s) "
                f"{', '.join(map(str, sorted(self.nondeterministic)))}): the source is nondeterministic, and no "
                "tolerance makes that a match",)


def _nudged(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Float inputs moved up by one ulp of max(|x|, 1): what float32 rounding does to them anyway."""
    nudged = {}
    for name, array in feeds.items():
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating):
            array = (array + np.spacing(np.maximum(np.abs(array), 1).astype(array.dtype))).astype(array.dtype)
        nudged[name] = array
    return nudged


def _max_difference(first, second, index: int) -> float | None:
    if isinstance(first, str) or isinstance(second, str) or index >= min(len(first), len(second)):
        return None
    if first[index].shape != second[index].shape:
        return None
    difference = np.abs(first[index].astype(np.float64) - second[index].astype(np.float64))
    difference = difference[np.isfinite(difference)]
    return float(difference.max()) if difference.size else 0.0
