"""Pre-deployment validation: a model against its source framework (or another model), per device."""

from __future__ import annotations

from converter.validation.engine import validate, validate_artifact
from converter.validation.report import ValidationReport, write_report
from converter.validation.tolerance import Tolerances

__all__ = ["validate", "validate_artifact", "write_report", "ValidationReport", "Tolerances"]
