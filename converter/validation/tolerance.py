"""How close is close enough: defaults by dtype, command-line overrides and per-output files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from converter.core.config import read_config
from converter.core.errors import GraphtoolError

__all__ = ["Tolerance", "Tolerances", "DTYPE_DEFAULTS", "load_tolerance_file"]


@dataclass(frozen=True)
class Tolerance:
    """An element passes when |actual - expected| <= atol + rtol * |expected|."""

    rtol: float
    atol: float

    def to_dict(self) -> dict:
        return {"rtol": self.rtol, "atol": self.atol}


DTYPE_DEFAULTS = {
    "float64": Tolerance(1e-7, 1e-9),
    "float32": Tolerance(1e-4, 1e-5),
    "float16": Tolerance(1e-2, 1e-3),
    "bfloat16": Tolerance(2e-2, 1e-2),
}
_EXACT = Tolerance(0.0, 0.0)  # integers and booleans must match exactly


@dataclass(frozen=True)
class Tolerances:
    """Per-output entries win over --rtol/--atol, which win over the dtype's default."""

    rtol: float | None = None
    atol: float | None = None
    per_output: dict[str, Tolerance] = field(default_factory=dict)

    @classmethod
    def from_options(cls, rtol: float | None = None, atol: float | None = None,
                     file: str | Path | None = None) -> Tolerances:
        """--rtol, --atol (None keeps the dtype's default) and a per-output --tolerance file, as Tolerances."""
        return cls(rtol, atol, load_tolerance_file(Path(file)) if file is not None else {})

    def for_output(self, name: str, dtype: str) -> Tolerance:
        if name in self.per_output:
            return self.per_output[name]
        default = DTYPE_DEFAULTS.get(dtype, _EXACT)
        return Tolerance(default.rtol if self.rtol is None else self.rtol,
                         default.atol if self.atol is None else self.atol)


def load_tolerance_file(path: Path) -> dict[str, Tolerance]:
    """Read {output name: {rtol, atol}} from JSON or YAML (see core.config.read_config)."""
    data = read_config(path, f"--tolerance {path}")
    if not isinstance(data, dict):
        raise GraphtoolError(f"--tolerance {path}: expected a mapping of output name -> {{rtol, atol}}")
    tolerances = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or not set(entry) <= {"rtol", "atol"} or not entry:
            raise GraphtoolError(f"--tolerance {path}: '{name}' must map to rtol and/or atol, got {entry!r}")
        try:
            default = DTYPE_DEFAULTS["float32"]
            tolerances[str(name)] = Tolerance(float(entry.get("rtol", default.rtol)),
                                              float(entry.get("atol", default.atol)))
        except (TypeError, ValueError) as error:
            raise GraphtoolError(f"--tolerance {path}: '{name}' has a non-numeric tolerance {entry!r}") from error
    return tolerances

