"""A low-precision build judged against the float32 source: the budget, the layers kept in float, what it bought."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from converter.core.atomic import remove
from converter.core.errors import GraphtoolError
from converter.core.frameworks import quiet
from converter.core.inputs import graph_input_specs, load_npz, match_arrays
from converter.core.precision import BUDGETS, IO_TYPES, LayerError, PrecisionRequest, check_precision
from converter.core.runners import Runner
from converter.core.timing import stage
from converter.core.types import LoadedModel
from converter.targets.precision import build_for
from converter.validation.engine import RecordedSource, record_source, validate_artifact
from converter.validation.report import ValidationReport
from converter.validation.samples import Sample, make_samples
from converter.validation.tolerance import Tolerances

__all__ = ["PrecisionSettings", "PrecisionReport", "precision_settings", "matched", "precision_samples",
           "build_within_budget", "BudgetOutcome", "artifact_bytes", "MAX_KEPT"]

# budget auto rebuilds once per layer it keeps in float32: past this many the budget is declared missed
MAX_KEPT = 12
# rows of a batch the layer probe runs on: its intermediates are held per chunk, but per row too
_LOCATE_ROWS = 8
_NAMED = 3  # layers a missed budget names


@dataclass(frozen=True)
class PrecisionSettings:
    """What `convert --precision` was asked: the build, how the budget is kept, and the held-out data."""

    request: PrecisionRequest
    budget: str = "fixed"
    eval_feeds: tuple[dict[str, np.ndarray], ...] = ()  # --eval: held-out data, in batches the model takes


def precision_settings(precision: str, calibration: str | Path | None = None, eval_data: str | Path | None = None,
                       budget: str = "fixed", io_types: str = "float") -> PrecisionSettings:
    """The --precision options as settings, their files read (names matched to the model's inputs once loaded:
    see matched); each bad one is a one-line GraphtoolError before anything is loaded."""
    check_precision(precision)
    for value, choices, flag in ((budget, BUDGETS, "--budget"), (io_types, IO_TYPES, "--io-types")):
        if value not in choices:
            raise GraphtoolError(f"{flag} {value}: expected one of {', '.join(choices)}")
    if precision == "fp32" and (calibration or eval_data or budget != "fixed" or io_types != "float"):
        raise GraphtoolError("--calibration, --eval, --budget and --io-types apply to a low-precision build; add "
                             "--precision fp16, bf16, int8-dynamic or int8")
    if precision == "int8" and calibration is None:
        raise GraphtoolError("--precision int8: static int8 needs --calibration DATA.npz (or a folder of .npz "
                             "batches) with an array per input, e.g. 100 to 500 rows of real inputs; or use "
                             "--precision int8-dynamic, which needs none")
    batches = _batches(Path(calibration), "--calibration") if calibration is not None else ()
    held_out = (load_npz(Path(eval_data), "--eval"),) if eval_data is not None else ()
    return PrecisionSettings(PrecisionRequest(precision, io_types, batches), budget, held_out)


def _batches(path: Path, flag: str) -> tuple[dict[str, np.ndarray], ...]:
    """An .npz (one batch) or a folder of them (one batch each, in name order)."""
    files = sorted(path.glob("*.npz")) if path.is_dir() else [path]
    if not files:
        raise GraphtoolError(f"{flag} {path}: the folder holds no .npz file; expected DATA.npz or a folder of them")
    batches = tuple(load_npz(file, flag) for file in files)
    empty = [str(file) for file, batch in zip(files, batches, strict=True)
             if not batch or any(np.ndim(a) == 0 or len(a) == 0 for a in batch.values())]
    if empty:
        raise GraphtoolError(f"{flag} {empty[0]}: holds no rows; expected an array per input with at least one row")
    return batches


def matched(settings: PrecisionSettings, loaded: LoadedModel) -> PrecisionSettings:
    """The settings with the calibration and --eval arrays keyed by the model's input names, cast to their dtypes
    and, where the model fixes its batch dim, cut into batches of that size; or a one-line GraphtoolError saying
    which array does not fit which input."""
    specs = graph_input_specs(loaded.model)
    request = settings.request
    batches = tuple(chunk for batch in request.calibration for chunk in _fitted(batch, specs, "--calibration"))
    held_out = _fitted(settings.eval_feeds[0], specs, "--eval") if settings.eval_feeds else ()
    return PrecisionSettings(PrecisionRequest(request.precision, request.io_types, batches, request.keep_float),
                             settings.budget, held_out)


def _fitted(arrays: dict[str, np.ndarray], specs: list, flag: str) -> tuple[dict[str, np.ndarray], ...]:
    fitted, _ = match_arrays(arrays, [spec.name for spec in specs], flag)
    rows = {len(array) for array in fitted.values() if np.ndim(array)}
    if len(rows) > 1:
        raise GraphtoolError(f"{flag}: the arrays hold different numbers of rows ({sorted(rows)}); give each input "
                             "the same rows")
    fixed_batch = {spec.dims[0] for spec in specs if spec.dims and isinstance(spec.dims[0], int)}
    for spec in specs:
        array = fitted[spec.name]
        fixed = [(axis, dim) for axis, dim in enumerate(spec.dims) if isinstance(dim, int) and axis > 0]
        if array.ndim != len(spec.dims) or any(array.shape[axis] != dim for axis, dim in fixed):
            dims = ",".join(str(d) if isinstance(d, int) else (d or "?") for d in spec.dims)
            raise GraphtoolError(f"{flag}: '{spec.name}' has shape {list(array.shape)}, but the model takes "
                                 f"[{dims}]; give an array of that shape (its first axis: the rows)")
        fitted[spec.name] = array.astype(spec.dtype, copy=False) if spec.dtype != "bfloat16" else array
    if not fixed_batch:
        return (fitted,)
    size, count = fixed_batch.pop(), rows.pop() if rows else 0
    if count < size:
        raise GraphtoolError(f"{flag}: {count} row(s), but the model takes batches of {size}; give at least {size} "
                             "rows, or convert with a dynamic batch (--input NAME:batch,...)")
    return tuple({name: array[start:start + size] for name, array in fitted.items()}
                 for start in range(0, count - size + 1, size))


@dataclass(frozen=True)
class PrecisionReport:
    """What the low-precision build cost and bought, beside the float32 artifact built from the same model."""

    precision: str
    io_types: str
    budget: str
    data: str  # what the budget was judged on
    float_report: ValidationReport | None  # the float32 artifact against the source
    kept: tuple[LayerError, ...] = ()  # layers budget auto kept in float32, in the order it kept them
    budget_note: str = ""
    worst: tuple[LayerError, ...] = ()  # a missed budget: the layers that add the most error
    size_bytes: int = 0
    float_size_bytes: int = 0
    latency: dict[int, tuple[float, float]] = field(default_factory=dict)  # batch -> (ms low, ms float), medians
    latency_note: str = ""  # why no latency was measured

    @property
    def size_ratio(self) -> float | None:
        return self.size_bytes / self.float_size_bytes if self.float_size_bytes else None

    def to_dict(self) -> dict:
        return {
            "precision": self.precision, "io_types": self.io_types, "budget": self.budget, "data": self.data,
            "float_passed": bool(self.float_report) if self.float_report is not None else None,
            "float_validation": self.float_report.to_dict() if self.float_report is not None else None,
            "kept_float": [layer.to_dict() for layer in self.kept], "budget_note": self.budget_note,
            "worst_layers": [layer.to_dict() for layer in self.worst],
            "size_bytes": self.size_bytes, "float_size_bytes": self.float_size_bytes, "size_ratio": self.size_ratio,
            "latency_ms": {str(batch): {"precision": low, "float32": high, "ratio": low / high if high else None}
                           for batch, (low, high) in self.latency.items()},
            "latency_note": self.latency_note,
        }


def precision_samples(loaded: LoadedModel, settings: PrecisionSettings, count: int,
                      from_file: bool) -> tuple[list[Sample], str]:
    """The data the budget is judged on, and what it is: --eval's held-out data; else --inputs data; else the
    calibration batches; else the traced inputs and seeded draws (not the exercises: a low-precision build is
    judged in the range it was built for, and the float32 artifact on everything)."""
    if settings.eval_feeds:
        return ([Sample(i, dict(batch), {}, given=True, kind="eval") for i, batch in enumerate(settings.eval_feeds)],
                "your --eval data (held out)")
    if from_file:
        return [Sample(0, dict(loaded.example_inputs), {}, given=True, kind="given")], "your --inputs data"
    if settings.request.calibration:
        samples = [Sample(i, dict(batch), {}, given=True, kind="calibration")
                   for i, batch in enumerate(settings.request.calibration)]
        return samples, "the calibration data itself (give --eval DATA.npz to judge on held-out data)"
    drawn = make_samples(graph_input_specs(loaded.model), loaded.model, max(1, count), 0, loaded.example_inputs)
    return [s for s in drawn if s.kind in ("traced", "seeded")], "the traced inputs and seeded draws"


def record_precision(loaded: LoadedModel, samples: list[Sample]) -> RecordedSource | None:
    """The source framework's answers on the budget's data (None for an ONNX source: onnxruntime runs it)."""
    if loaded.reference is None:
        return None
    with stage("reference"):
        return record_source(loaded, len(samples), chosen=samples, noise=False)


@dataclass
class _Build:
    """The low-precision artifact in staging, as it stands in the budget loop."""

    request: PrecisionRequest
    details: dict
    report: ValidationReport


@dataclass(frozen=True)
class BudgetOutcome:
    """Where the budget loop ended: the build in staging, its report, the layers kept and how it went."""

    details: dict
    report: ValidationReport
    kept: tuple[LayerError, ...] = ()
    note: str = ""
    worst: tuple[LayerError, ...] = ()  # a missed budget: the layers that add the most error, worst first


def build_within_budget(loaded: LoadedModel, target: Any, staging: Path, settings: PrecisionSettings,
                        samples: list[Sample], recorded: RecordedSource | None,
                        tolerances: Tolerances) -> BudgetOutcome:
    """Write `target` at `staging` in the requested precision and judge it; with budget auto, keep the layer that
    adds the most error in float32, one at a time, until the budget holds or MAX_KEPT are kept. A budget missed
    names the layers that add the most error."""
    build = build_for(target.name, settings.request.precision)
    judged = tolerances.with_precision(settings.request.precision)
    current = _write_and_judge(loaded, target, build, staging, settings.request, samples, recorded, judged)
    if current.report:
        return BudgetOutcome(current.details, current.report)
    feeds = _rows(samples[0].feeds, _LOCATE_ROWS)
    if settings.budget != "auto":
        worst = _located(build, loaded, current.request, feeds)[:_NAMED]
        return BudgetOutcome(current.details, current.report, note="missed; --budget auto keeps the layers that "
                             "add the most error in float32" if worst else "missed", worst=worst)
    kept: list[LayerError] = []
    while not current.report and len(kept) < MAX_KEPT:
        errors = _located(build, loaded, current.request, feeds)
        if not errors:
            return BudgetOutcome(current.details, current.report, tuple(kept), "no layer left that adds error; the "
                                 "budget cannot be met by keeping layers in float32")
        kept.append(errors[0])
        remove(staging)
        current = _write_and_judge(loaded, target, build, staging, current.request.keeping(errors[0].name), samples,
                                   recorded, judged)
    if current.report:
        return BudgetOutcome(current.details, current.report, tuple(kept),
                             f"met by keeping {len(kept)} layer(s) in float32")
    return BudgetOutcome(current.details, current.report, tuple(kept), f"missed after keeping {len(kept)} layers in "
                         f"float32 (at most {MAX_KEPT} are tried)",
                         worst=_located(build, loaded, current.request, feeds)[:_NAMED])


def _located(build, loaded: LoadedModel, request: PrecisionRequest, feeds: dict) -> list[LayerError]:
    with stage("locate"), quiet():
        return build.locator()(loaded, request, feeds)


def _write_and_judge(loaded, target, build, staging, request, samples, recorded, tolerances) -> _Build:
    with stage("write"), quiet():
        details = build.writer()(loaded, staging, False, request)
    with stage("validation"):
        judge = build.judge_runner()
        with quiet():
            runner = judge(staging, loaded, details, request) if judge else target.runner(staging, loaded, details)
        if request.io_types == "native":
            runner = _widened(runner)
        report = validate_artifact(loaded, runner, len(samples), tolerances, True, recorded, chosen=samples)
    return _Build(request, details, report)


def _widened(runner: Runner) -> Runner:
    """A native-I/O build's half outputs as float32: what was asked is half outputs, what is judged their values."""

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [o.astype(np.float32) if o.dtype == np.float16 else o for o in map(np.asarray, runner.run(feeds))]

    return Runner(f"{runner.name}, native I/O", runner.device, run)


def _rows(feeds: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """The first `rows` of each input's batch, where every input has at least that many."""
    if feeds and all(np.ndim(a) and len(a) > rows for a in feeds.values()):
        return {name: np.ascontiguousarray(array[:rows]) for name, array in feeds.items()}
    return feeds


def artifact_bytes(path: Path) -> int:
    """An artifact's size on disk: a file (with its external data beside it) or a folder's files."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)
