"""How close is close enough: defaults by dtype, command-line overrides and per-output files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from converter.core.config import read_config
from converter.core.errors import GraphtoolError

__all__ = ["Tolerance", "Tolerances", "DTYPE_DEFAULTS", "ERROR_STATS", "METRICS", "load_tolerance_file",
           "check_metric", "check_error_stat",
           "PRECISION_METRICS", "CLASSIFIER_METRICS", "precision_metrics", "budget_text"]

# How the errors of an output are judged (metrics.rule_text says each one's rule).
ERROR_STATS = ("elementwise", "max", "mean", "cosine")
# Task metrics, judged instead of the error statistic where chosen: NAME, NAME>=THRESHOLD; topk takes :K.
METRICS = ("cosine", "argmax", "topk", "iou", "norm")


@dataclass(frozen=True)
class Tolerance:
    """An element passes when |actual - expected| <= atol * s + rtol * |expected|, s the output's scale in the
    sample (its max |expected|, at least 1); `error_stat` and task `metrics` change what is judged."""

    rtol: float
    atol: float
    error_stat: str = "elementwise"
    metrics: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"rtol": self.rtol, "atol": self.atol, "error_stat": self.error_stat, "metrics": list(self.metrics)}


DTYPE_DEFAULTS = {
    "float64": Tolerance(1e-7, 1e-9),
    "float32": Tolerance(1e-4, 1e-5),
    "float16": Tolerance(1e-2, 1e-3),
    "bfloat16": Tolerance(2e-2, 1e-2),
}
_EXACT = Tolerance(0.0, 0.0)  # integers and booleans must match exactly

# The budget a low-precision build is judged by against the float32 source, where nothing else is chosen: half
# precision keeps each output's direction; int8 keeps a classifier's decisions (an output shaped [batch, classes])
# and otherwise its direction, a little looser.
PRECISION_METRICS = {
    "fp16": ("cosine>=0.999", "norm>=0.99"),
    "bf16": ("cosine>=0.99", "norm>=0.98"),
    "int8-dynamic": ("cosine>=0.99", "norm>=0.95"),
    "int8": ("cosine>=0.99", "norm>=0.95"),
}
# argmax alone passes a classifier scaled as a whole, or one whose decisions hold by luck: with a looser cosine
# and the norm, a broken layer that leaves the top class in place still fails
CLASSIFIER_METRICS = ("argmax>=0.99", "cosine>=0.95", "norm>=0.9")


@dataclass(frozen=True)
class Tolerances:
    """Per-output entries win over --rtol/--atol/--error-stat/--metric, which win over the dtype's default.

    `allow_inconclusive`: a check that cannot tell (the reference ~0, or the same whatever the input) does
    not fail the validation; the word is still reported.
    """

    rtol: float | None = None
    atol: float | None = None
    per_output: dict[str, Tolerance] = field(default_factory=dict)
    error_stat: str | None = None
    metrics: tuple[str, ...] = ()
    allow_inconclusive: bool = False
    precision: str = "fp32"  # what the candidate was built in: its budget when no option says otherwise
    classifiers: frozenset[str] | None = None  # outputs holding class scores (core.precision.classifier_outputs)

    @classmethod
    def from_options(cls, rtol: float | None = None, atol: float | None = None, file: str | Path | None = None,
                     error_stat: str | None = None, metrics: Iterable[str] = (), allow_inconclusive: bool = False,
                     where: str = "-") -> Tolerances:
        """The judging options (--rtol, --atol: None keeps the dtype's default; --error-stat, --metric,
        --allow-inconclusive) and a per-output --tolerance file, as Tolerances; `where` names them in errors
        (the CLI's flags by default, "options." for a manifest)."""
        stat = check_error_stat(error_stat, f"{where}-error-stat" if where == "-" else f"{where}error_stat") \
            if error_stat is not None else None
        return cls(rtol, atol, load_tolerance_file(Path(file)) if file is not None else {}, error_stat=stat,
                   metrics=tuple(check_metric(m, "--metric" if where == "-" else f"{where}metric") for m in metrics),
                   allow_inconclusive=allow_inconclusive)

    def for_output(self, name: str, dtype: str, shape: tuple[int, ...] | None = None) -> Tolerance:
        """The entry for `name`; else the options; else, for a low-precision candidate, its budget
        (precision_metrics); else the dtype's default."""
        if name in self.per_output:
            return self.per_output[name]
        default = DTYPE_DEFAULTS.get(dtype, _EXACT)
        metrics = tuple(self.metrics)
        if self.budgeted and default != _EXACT:
            metrics = precision_metrics(self.precision, shape, None if self.classifiers is None
                                        else name in self.classifiers)
        return Tolerance(default.rtol if self.rtol is None else self.rtol,
                         default.atol if self.atol is None else self.atol,
                         self.error_stat or "elementwise", metrics)

    @property
    def budgeted(self) -> bool:
        """Whether outputs without a per-output entry are judged by the candidate's precision budget."""
        return (self.precision != "fp32" and not self.metrics and self.rtol is None and self.atol is None
                and self.error_stat is None)

    def for_model(self, model) -> Tolerances:
        """The same options, knowing which of `model`'s outputs hold class scores (what an int8 budget asks)."""
        from converter.core.precision import classifier_outputs

        return replace(self, classifiers=classifier_outputs(model))

    def with_precision(self, precision: str) -> Tolerances:
        """The same options, judging a candidate built in `precision`."""
        return replace(self, precision=precision)


def precision_metrics(precision: str, shape: tuple[int, ...] | None, classifier: bool | None = None) -> tuple[str, ...]:
    """The default budget of an output built in `precision` (none for fp32: allclose by dtype). `classifier`: whether
    the output holds class scores; None: judged by its shape alone ([batch, classes])."""
    if classifier is None:
        classifier = shape is not None and len(shape) == 2 and shape[-1] >= 2
    if precision.startswith("int8") and classifier:
        return CLASSIFIER_METRICS
    return PRECISION_METRICS.get(precision, ())


def budget_text(precision: str) -> str:
    """The budget of `precision` in words, as precision_metrics chooses it by output."""
    text = " and ".join(PRECISION_METRICS[precision])
    if precision.startswith("int8"):
        return f"{' and '.join(CLASSIFIER_METRICS)} for class scores, else {text}"
    return text


def check_error_stat(stat: str, where: str = "--error-stat") -> str:
    """`stat`, or a GraphtoolError naming the ones there are."""
    if stat not in ERROR_STATS:
        raise GraphtoolError(f"{where} {stat}: expected one of {', '.join(ERROR_STATS)}")
    return stat


def check_metric(spec: str, where: str = "--metric") -> str:
    """`spec` (cosine, argmax, topk:K, iou, each optionally >=THRESHOLD), or a GraphtoolError saying the form."""
    name, _, threshold = spec.partition(">=")
    kind, _, k = name.partition(":")
    try:
        good = kind in METRICS and (k.isdigit() and int(k) > 0 if kind == "topk" else not k)
        good = good and (not threshold or 0.0 <= float(threshold) <= 1.0)
    except ValueError:
        good = False
    if not good:
        raise GraphtoolError(f"{where} {spec}: expected cosine, argmax, topk:K, iou or norm, optionally followed by "
                             ">=THRESHOLD (0 to 1), e.g. topk:5>=0.99")
    return spec


def load_tolerance_file(path: Path) -> dict[str, Tolerance]:
    """Read {output name: {rtol, atol}} from JSON or YAML (see core.config.read_config)."""
    data = read_config(path, f"--tolerance {path}")
    if not isinstance(data, dict):
        raise GraphtoolError(f"--tolerance {path}: expected a mapping of output name -> {{rtol, atol}}")
    tolerances = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or not set(entry) <= _ENTRY_KEYS or not entry:
            raise GraphtoolError(f"--tolerance {path}: '{name}' must map to rtol and/or atol (and optionally "
                                 f"error_stat, metric), got {entry!r}")
        try:
            default = DTYPE_DEFAULTS["float32"]
            tolerances[str(name)] = Tolerance(float(entry.get("rtol", default.rtol)),
                                              float(entry.get("atol", default.atol)),
                                              *_judging(entry, f"--tolerance {path}: '{name}':"))
        except (TypeError, ValueError) as error:
            raise GraphtoolError(f"--tolerance {path}: '{name}' has a non-numeric tolerance {entry!r}") from error
    return tolerances


_ENTRY_KEYS = {"rtol", "atol", "error_stat", "metric"}


def _judging(entry: dict, where: str) -> tuple[str, tuple[str, ...]]:
    """An entry's error_stat and metric(s): `metric: argmax` or `metric: [cosine, topk:5]`."""
    stat = check_error_stat(str(entry.get("error_stat", "elementwise")), f"{where} error_stat")
    metrics = entry.get("metric", [])
    metrics = [metrics] if isinstance(metrics, str) else metrics
    if not isinstance(metrics, list):
        raise GraphtoolError(f"{where} metric must be a name or a list of names, got {metrics!r}")
    return stat, tuple(check_metric(str(m), f"{where} metric") for m in metrics)

