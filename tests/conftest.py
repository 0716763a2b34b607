"""Shared test helpers: fixture paths and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
TORCH_DIR = FIXTURES / "torch"
TF_DIR = FIXTURES / "tf"


FUZZ_COUNTS: dict[str, int] = {}  # format -> mutated cases run, reported at the end of the session


def pytest_terminal_summary(terminalreporter):
    if FUZZ_COUNTS:
        per_format = ", ".join(f"{name} {count}" for name, count in sorted(FUZZ_COUNTS.items()))
        terminalreporter.write_line(f"fuzz: {sum(FUZZ_COUNTS.values())} mutated cases ({per_format})")


@pytest.fixture(scope="session")
def audit_models(tmp_path_factory):
    """The graph audit's hostile and benign models (tests/audit_models.py), built once per session."""
    import audit_models as built

    folder = tmp_path_factory.mktemp("audit-models")
    return {**built.tf_models(folder), **built.torch_models(folder), **built.onnx_models(folder)}


@pytest.fixture
def cli():
    """Invoke the graphtool app in-process; returns the click Result."""
    from converter.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke
