"""converter/core/version.py: one version, the installed distribution's, wherever graphtool states one."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import subprocess
import sys
from importlib import metadata

import pytest
from conftest import ROOT

import converter
from converter.core import version as version_module
from converter.core.version import UNKNOWN, version

try:
    INSTALLED = metadata.version("graphtool")
except metadata.PackageNotFoundError:  # a checkout run uninstalled: the fallback is what everything states
    INSTALLED = UNKNOWN


@pytest.fixture
def installed(monkeypatch):
    """importlib.metadata answering a version no source file holds, for graphtool only."""
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "7.7.7.dev3" if name == "graphtool" else real(name))
    version_module.version.cache_clear()
    yield "7.7.7.dev3"
    version_module.version.cache_clear()


def test_version_is_the_installed_distributions(installed):
    assert version() == installed
    assert converter.__version__ == installed


def test_uninstalled_falls_back(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    version_module.version.cache_clear()
    try:
        assert version() == UNKNOWN
    finally:
        version_module.version.cache_clear()


def test_cli_version_and_json_documents(cli, tmp_path, installed):
    import onnx
    from graph_models import base_model

    assert cli("--version").stdout == f"graphtool {installed}\n"
    onnx.save(base_model(), tmp_path / "a.onnx")
    assert json.loads(cli("inspect", tmp_path / "a.onnx", "--json").stdout)["version"] == installed


def test_server_metadata_states_it(installed):
    pytest.importorskip("fastapi", reason="the serve extra")
    from converter.deploy.repository import Repository
    from converter.deploy.server import create_app

    app = create_app(Repository({}))
    (route,) = [r for r in app.routes if getattr(r, "path", None) == "/v2" and "GET" in r.methods]
    document = json.loads(asyncio.run(route.endpoint()).body)
    assert (document["name"], document["version"]) == ("graphtool", installed)


def test_validation_report_states_it(installed):
    from converter.validation.report import environment

    assert environment([], [])["packages"]["graphtool"] == installed


def test_no_version_is_written_into_the_source():
    """pyproject.toml's version appears in no string of the package: everything asks core.version."""
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in sorted((ROOT / "converter").rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and node.value == declared]
    assert found == []


def test_version_flag_stays_light():
    """In a fresh process, the real installed version, and none of the heavy modules imported for it."""
    probe = ("import sys; sys.argv = ['graphtool', '--version']\n"
             "from converter.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('onnx', 'numpy', 'torch', 'tensorflow') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.splitlines() == [f"graphtool {INSTALLED}", "[]"], result.stderr
