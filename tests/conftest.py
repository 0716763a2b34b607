"""Shared test helpers: fixture paths and a CLI runner."""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
TORCH_DIR = FIXTURES / "torch"
TF_DIR = FIXTURES / "tf"


@functools.cache
def benchmark_module(name: str) -> ModuleType:
    """benchmarks/NAME.py as a module: the conformance harness owns the light CNNs' weight randomization."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

FUZZ_COUNTS: dict[str, int] = {}  # format -> mutated cases run, reported at the end of the session


def pytest_terminal_summary(terminalreporter):
    if FUZZ_COUNTS:
        per_format = ", ".join(f"{name} {count}" for name, count in sorted(FUZZ_COUNTS.items()))
        terminalreporter.write_line(f"fuzz: {sum(FUZZ_COUNTS.values())} mutated cases ({per_format})")


@pytest.fixture
def cli():
    """Invoke the graphtool app in-process; returns the click Result."""
    from converter.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke
