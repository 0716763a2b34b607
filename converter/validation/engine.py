"""Run a model and its reference on the same samples, per device, and locate where they part."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import onnx

from converter.core.errors import GraphtoolError
from converter.core.inputs import graph_input_specs
from converter.core.output_names import source_output_names
from converter.core.precision import COMPUTES_IN, PRECISIONS, model_precision
from converter.core.runners import Runner, cuda_available, ort_runner, reference_runner
from converter.core.types import LoadedModel
from converter.validation import locate as locating
from converter.validation.metrics import NOISE_FACTOR, OutputMetrics, failed_run, measure, merge
from converter.validation.noise import NoiseFloors, SourceRuns, record, run_outputs
from converter.validation.report import DeviceResult, ValidationReport, environment
from converter.validation.samples import EXERCISES, Sample, make_samples
from converter.validation.tolerance import Tolerances, budget_text
from converter.validation.verdicts import Evidence, device_status, diagnose, inconclusive_reason, settle

__all__ = [
    "Side", "Loader", "RecordedSource", "validate", "validate_artifact", "record_source", "compare_sides",
    "resolve_devices", "side_of", "samples_for", "DEVICES",
]

DEVICES = ("cpu", "cuda", "all")

Loader = Callable[[], LoadedModel]  # loads when called, so a bad --device is refused before a slow load


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a runner, and the normalized ONNX it stands for (for --locate)."""

    label: str
    runner: Runner
    model: onnx.ModelProto
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]


def validate(
    model: LoadedModel | Loader,
    against: LoadedModel | Loader | None = None,
    *,
    device: str = "cpu",
    samples: int = 3,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    locate: bool = False,
    from_file: bool = False,
    against_label: str | None = None,
) -> ValidationReport:
    """MODEL's ONNX under onnxruntime against MODEL's own framework, or MODEL against OTHER, each in its own.

    `from_file`: the example inputs are real data (--inputs), so no seeded samples are added.
    """
    tolerances = tolerances or Tolerances()
    devices, skipped = resolve_devices(device)
    loaded = _loaded(model)
    if against is None:
        tolerances, notes = _judged_by_precision(tolerances, loaded)
        chosen = samples_for(loaded, samples, seed, from_file)
        candidates = [side_of(loaded, ort_runner(loaded.model, d)) for d in devices]
        return compare_sides(side_of(loaded), candidates, chosen, tolerances, skipped=skipped, locate=locate,
                             notes=notes)
    other = _loaded(against)
    against_label = against_label or other.source.path
    if _coarseness(other) < _coarseness(loaded):  # the more precise model is the reference
        loaded, other, against_label = other, loaded, loaded.source.path
        notes = [f"{loaded.source.path} is the reference: it computes in {COMPUTES_IN[model_precision(loaded.model)]}, "
                 f"{against_label} in {COMPUTES_IN[model_precision(other.model)]}"]
    else:
        notes = []
    tolerances, judged = _judged_by_precision(tolerances, loaded, other)
    chosen = samples_for(loaded, samples, seed, from_file)
    if _coarseness(loaded) != _coarseness(other):
        chosen = [s for s in chosen if s.kind not in dict(EXERCISES)]
        notes.append("the models compute in different precisions: judged on the traced inputs and seeded draws, "
                     "not on them negated, scaled or zeroed (a low-precision model holds only in the range it was "
                     "built for)")
    expected = side_of(loaded, None if loaded.reference else ort_runner(loaded.model, "cpu"))
    if other.reference is not None:
        candidates, skipped = [side_of(other)], []  # a framework runs where it runs: on the CPU here
    else:
        candidates = [side_of(other, ort_runner(other.model, d)) for d in devices]
    notes += judged
    if set(expected.input_names) != set(candidates[0].input_names):
        pairs = ", ".join(f"{a}->{b}" for a, b in zip(expected.input_names, candidates[0].input_names, strict=False))
        notes.append(f"the models' input names differ; inputs matched by position ({pairs})")
    return compare_sides(expected, candidates, chosen, tolerances, skipped=skipped, locate=locate,
                         against=against_label, notes=notes)


def _coarseness(loaded: LoadedModel) -> int:
    """Where the model's precision stands in PRECISIONS: 0 for float32, higher for coarser."""
    return PRECISIONS.index(model_precision(loaded.model))


def _judged_by_precision(tolerances: Tolerances, *models: LoadedModel) -> tuple[Tolerances, list[str]]:
    """`tolerances` judging by the budget of the coarsest model's precision where it is not float32 and no
    option chooses otherwise (floats noise of a half or int8 model is no mismatch), and the note that says so."""
    coarsest = max(models, key=_coarseness)
    precision = model_precision(coarsest.model)
    if precision == "fp32" or tolerances.precision != "fp32":
        return tolerances, []
    tolerances = tolerances.with_precision(precision)
    if not tolerances.budgeted:
        return tolerances, []
    return tolerances, [f"judged by the {precision} budget ({budget_text(precision)}): {coarsest.source.path} "
                        f"computes in {COMPUTES_IN[precision]}; --rtol, --atol, --error-stat or --metric judge "
                        "otherwise"]


@dataclass(frozen=True)
class RecordedSource:
    """The source framework's side of validate_artifact, run before the target is built: its answers on the
    samples, so that the source itself can be freed first."""

    side: Side  # named as the source's runner, which it no longer holds
    samples: list[Sample]
    runs: SourceRuns


def record_source(loaded: LoadedModel, samples: int, from_file: bool = False,
                  chosen: Sequence[Sample] | None = None, noise: bool = True) -> RecordedSource:
    """Run the source framework (`loaded.reference`) now on validate_artifact's samples (or those `chosen`), and
    on what their noise floors need (unless not `noise`: a low-precision build is judged by its budget alone)."""
    if loaded.reference is None:
        raise ValueError(f"{loaded.source.path}: no source framework to record; onnxruntime runs an ONNX source")
    _disable_tf32()
    source = side_of(loaded)
    chosen = list(chosen) if chosen is not None else samples_for(loaded, samples, seed=0, from_file=from_file)
    runs = record(source.runner, chosen, noise)
    stand_in = Runner(source.runner.name, source.runner.device, _already_recorded)
    return RecordedSource(replace(source, runner=stand_in), chosen, runs)


def _already_recorded(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    raise RuntimeError("the source was freed once its answers were recorded; nothing may run it again")


def validate_artifact(
    loaded: LoadedModel, runner: Runner | Callable[[], Runner], samples: int, tolerances: Tolerances,
    from_file: bool = False, recorded: RecordedSource | None = None, chosen: Sequence[Sample] | None = None,
) -> ValidationReport:
    """A written artifact, run as its target runs it, against the source framework (onnxruntime for ONNX).

    `runner` may be a function that loads the artifact: it is then called after onnxruntime's session is
    built, whose build briefly holds the weights three times over, so the two peaks do not stack.
    `recorded`: the source's answers from record_source (with the same samples), instead of running it.
    `chosen`: the samples, where not those of samples_for (nor recorded's).
    """
    if recorded is None:
        expected = side_of(loaded, None if loaded.reference else ort_runner(loaded.model))
        chosen = list(chosen) if chosen is not None else samples_for(loaded, samples, seed=0, from_file=from_file)
    else:
        expected, chosen = recorded.side, recorded.samples
    artifact = side_of(loaded, runner if isinstance(runner, Runner) else runner())
    return compare_sides(expected, [artifact], chosen, tolerances, noise=_noise_pair(loaded.model, artifact),
                         recorded=recorded.runs if recorded is not None else None)


# onnx's reference evaluator is numpy, slow on a large model: the runtimes' disagreement is measured below this
_PAIR_WEIGHT_BYTES = 64 * 2**20


def _noise_pair(model: onnx.ModelProto, artifact: Side) -> tuple[Runner, Runner] | None:
    """Two float32 runtimes of the same ONNX, whose disagreement is noise whatever the graph computes; none where
    the artifact is onnxruntime itself (--to onnx), whose own disagreement must not excuse it, or the model is
    large."""
    weights = sum(4 * math.prod(t.dims) for t in model.graph.initializer)
    if artifact.runner.name.startswith("onnxruntime") or weights > _PAIR_WEIGHT_BYTES:
        return None
    return ort_runner(model), reference_runner(model)


def _loaded(model: LoadedModel | Loader) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else model()


def side_of(loaded: LoadedModel, runner: Runner | None = None) -> Side:
    """A loaded model run by `runner`, by default its own framework (onnx's reference evaluator for ONNX)."""
    if runner is None:
        if loaded.reference is not None:
            runner = Runner(loaded.source.framework, "cpu", loaded.reference)
        else:
            runner = reference_runner(loaded.model)
    inputs = tuple(spec.name for spec in graph_input_specs(loaded.model))
    outputs = tuple(source_output_names(loaded.model))  # what every target calls them
    return Side(f"{runner.name} ({loaded.source.path})", runner, loaded.model, inputs, outputs)


def resolve_devices(device: str) -> tuple[list[str], list[str]]:
    """(devices to run, devices skipped); an explicit cuda without CUDA is bad input."""
    if device not in DEVICES:
        raise GraphtoolError(f"--device {device}: expected one of {', '.join(DEVICES)}")
    has_cuda = cuda_available()
    if device == "cuda" and not has_cuda:
        raise GraphtoolError("--device cuda: onnxruntime has no CUDAExecutionProvider here; install "
                             "onnxruntime-gpu on a machine with an NVIDIA GPU, or use --device cpu")
    if device == "all":
        return (["cpu", "cuda"], []) if has_cuda else (["cpu"], ["cuda"])
    return [device], []


def compare_sides(
    expected: Side,
    candidates: Sequence[Side],
    samples: Sequence[Sample],
    tolerances: Tolerances,
    *,
    skipped: Sequence[str] = (),
    locate: bool = False,
    against: str | None = None,
    notes: Sequence[str] = (),
    noise: tuple[Runner, Runner] | None = None,
    recorded: SourceRuns | None = None,
) -> ValidationReport:
    """Every candidate against the expected side on every sample; locate the first divergence if asked.

    A sample that fails is judged again against its own float32 noise floor where that exceeds the tolerance
    (an ill-conditioned sample: a LayerNorm over a constant): the expected side run with its float inputs
    moved by one ulp, and `noise`, two float32 runtimes of one graph that is not the candidate's.
    `recorded`: the expected side's answers on `samples`, run beforehand (noise.record), instead of running it.
    """
    _disable_tf32()
    if tolerances.precision != "fp32" and tolerances.classifiers is None:
        tolerances = tolerances.for_model(expected.model)
    signature = _signature_problems(expected, candidates[0]) if candidates else []
    feeds_for = _input_mapping(expected, candidates[0]) if candidates else {}
    if recorded is not None:
        expected_outputs = list(recorded.outputs)
    else:
        expected_outputs = [run_outputs(expected.runner, s.feeds) for s in samples]
    floors = NoiseFloors(expected.runner, noise, samples, expected_outputs, recorded)
    results = []
    for candidate in candidates:
        evidence = Evidence()
        outputs = _compare(expected, candidate, samples, expected_outputs, feeds_for, tolerances, floors, evidence)
        outputs = _settled(outputs, samples, expected_outputs, tolerances)
        status = device_status(outputs, bool(signature))
        failed = status == "failed"
        diagnosis = diagnose(evidence, outputs, samples) + floors.diagnosis()
        result = DeviceResult(candidate.runner.device, candidate.runner.name, status, outputs=tuple(outputs),
                              diagnosis=diagnosis)
        if failed and locate and not signature:
            result = _with_location(result, expected, candidate, samples, expected_outputs, feeds_for, tolerances,
                                    against is not None, results)
        results.append(result)
    results += [DeviceResult(d, "onnxruntime CUDAExecutionProvider", "skipped",
                             reason="onnxruntime has no CUDAExecutionProvider here") for d in skipped]
    all_notes = list(notes)
    if any(r.device == "cuda" and r.status != "skipped" for r in results):
        all_notes.append("TF32 disabled on CUDA: onnxruntime use_tf32=0, torch allow_tf32=False")
    return ValidationReport(
        model=expected.label, against=against, reference=expected.runner.name, samples=tuple(samples),
        devices=tuple(results), signature_problems=tuple(signature), notes=tuple(all_notes),
        environment=environment(_providers(), _cuda_names()), allow_inconclusive=tolerances.allow_inconclusive,
    )


def samples_for(loaded: LoadedModel, count: int, seed: int, from_file: bool) -> list[Sample]:
    """The traced (or --inputs) inputs first, then samples with other sizes for dynamic dims (seeded draws shaped
    like them, or the --inputs data sliced or tiled), then the first one negated, scaled and zeroed: one sample,
    even of real data, is not a validation."""
    chosen = make_samples(graph_input_specs(loaded.model), loaded.model, max(1, count), seed, loaded.example_inputs,
                          from_data=from_file)
    if from_file:
        chosen = [replace(s, given=True, kind="given") if s.index == 0 else replace(s, given=s.seed is None)
                  for s in chosen]
    return chosen


def _compare(expected, candidate, samples, expected_outputs, feeds_for, tolerances, floors, evidence):
    names = candidate.output_names
    totals: dict[int, OutputMetrics] = {}
    for sample, wanted in zip(samples, expected_outputs, strict=True):
        got = run_outputs(candidate.runner, _feeds(sample.feeds, feeds_for))
        for index, name in enumerate(names):
            if isinstance(wanted, str) or isinstance(got, str):
                reason = f"sample {sample.index}: {wanted if isinstance(wanted, str) else got}"
                current = failed_run(name, tolerances.for_output(name, "float32"), reason)
            elif index >= len(wanted) or index >= len(got):
                continue
            else:
                current = _measured(name, got[index], wanted[index], tolerances, sample, index, floors, evidence)
            totals[index] = merge(totals[index], current) if index in totals else current
    return [totals[i] for i in sorted(totals)]


def _measured(name, actual, expected, tolerances, sample, index, floors, evidence) -> OutputMetrics:
    """One output of one sample; a failure is judged again against the sample's float32 noise floor."""
    tolerance = tolerances.for_output(name, expected.dtype.name, np.shape(expected))
    current = measure(name, actual, expected, tolerance, sample=sample.index)
    floor = None
    if not current.passed and not current.problems and not tolerance.metrics:
        floor = floors.floor(sample, index, current.scale * tolerance.atol, current.scale)
        if floor is not None:
            current = measure(name, actual, expected, tolerance, floor, sample.index)
            current = replace(current, noise=(f"sample {sample.index} ({sample.kind}): float32 noise floor "
                                              f"{floor:.3g} ({floors.label}); judged within {NOISE_FACTOR:g}x it",))
    if not current.passed and not current.problems and actual.shape == expected.shape:
        evidence.add(name, sample, np.asarray(actual), np.asarray(expected), tolerance, floor)
    return _tag(current, sample)


def _settled(outputs, samples, expected_outputs, tolerances) -> list[OutputMetrics]:
    """Each output's verdict, once every sample is in."""
    settled = []
    for index, output in enumerate(outputs):
        values = [o[index] for o in expected_outputs if not isinstance(o, str) and index < len(o)]
        tolerance = tolerances.for_output(output.name, output.dtype or "float32", output.shape or None)
        reason = inconclusive_reason(values, samples, tolerance) if len(values) == len(samples) else None
        settled.append(settle(output, reason))
    return settled


def _tag(metrics: OutputMetrics, sample: Sample) -> OutputMetrics:
    if not metrics.problems:
        return metrics
    return replace(metrics, problems=tuple(f"sample {sample.index}: {p}" for p in metrics.problems))


def _feeds(feeds: dict[str, np.ndarray], mapping: dict[str, str]) -> dict[str, np.ndarray]:
    return {mapping.get(name, name): array for name, array in feeds.items()}


def _input_mapping(expected: Side, candidate: Side) -> dict[str, str]:
    if set(expected.input_names) == set(candidate.input_names):
        return {}
    return dict(zip(expected.input_names, candidate.input_names, strict=False))


def _signature_problems(expected: Side, candidate: Side) -> list[str]:
    problems = []
    if len(expected.input_names) != len(candidate.input_names):
        problems.append(f"inputs: {list(expected.input_names)} vs {list(candidate.input_names)}")
    if len(expected.output_names) != len(candidate.output_names):
        problems.append(f"output count: {len(expected.output_names)} vs {len(candidate.output_names)} "
                        f"({list(expected.output_names)} vs {list(candidate.output_names)})")
    elif set(expected.output_names) & set(candidate.output_names) and expected.output_names != candidate.output_names:
        problems.append(f"output names: {list(expected.output_names)} vs {list(candidate.output_names)}")
    return problems


def _with_location(result, expected, candidate, samples, expected_outputs, feeds_for, tolerances, paired, done):
    index = next((i for i, s in enumerate(samples) if not isinstance(expected_outputs[i], str)), None)
    if index is None:
        return replace(result, locate_note="the reference failed on every sample; nothing to compare against")
    sample = samples[index]
    feeds = (sample.feeds, _feeds(sample.feeds, feeds_for))
    device = candidate.runner.device
    integer = locating.integer_operators(expected.model) + locating.integer_operators(candidate.model)
    if paired and integer:
        ops = ", ".join(integer)
        return replace(result, locate_note=f"--locate cannot pair the layers of a QOperator model ({ops} compute on "
                       "int8 values) with float ones; quantize it in QDQ form to locate its worst layer")
    if paired:
        pairs, weights = locating.matched_pairs(expected.model, candidate.model)
        reference = locating.Probe(expected.model, "cpu")
    else:
        pairs, weights = locating.identity_pairs(candidate.model), {}
        cpu_passed = any(r.device == "cpu" and r.status == "passed" for r in done)
        reference = locating.Probe(candidate.model, "cpu" if device == "cuda" and cpu_passed else None)
    located = locating.locate(reference, locating.Probe(candidate.model, device), pairs, feeds, tolerances, weights)
    if located is not None:
        return replace(result, located=located)
    note = ("every intermediate agrees between " + f"{reference.name} and onnxruntime {device}: "
            + ("the difference is in the models' outputs or in the framework runs, not inside the graphs"
               if paired else "the ONNX graph itself computes something other than the source framework "
               "(an export problem), or the difference lies only in unpaired outputs"))
    return replace(result, locate_note=note)


def _providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _disable_tf32() -> None:
    torch = sys.modules.get("torch")
    if torch is not None:  # only a torch that is already loaded: validation must not import it
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def _cuda_names() -> list[str]:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
