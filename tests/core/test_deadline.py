"""The --timeout deadline: it bounds slow work, yet never interrupts an import halfway."""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from converter.core import deadline as deadline_module
from converter.core.deadline import deadline, uninterrupted
from converter.core.errors import GraphtoolError

# A package whose import takes a while, and a submodule that refers back to it, as torch's do: interrupted
# halfway, the submodule stays in sys.modules holding the half-initialized package, and the next import of
# the package in this process fails ("partially initialized module").
PACKAGE = {
    "__init__.py": "from {name} import first\nimport time\ntime.sleep({sleep})\nVALUE = 42\n",
    "first.py": "import {name}\n\ndef value():\n    return {name}.VALUE\n",
}


def _package(tmp_path, monkeypatch, name: str, sleep: float) -> str:
    folder = tmp_path / name
    folder.mkdir()
    for file, text in PACKAGE.items():
        (folder / file).write_text(text.format(name=name, sleep=sleep))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def _forget(name: str) -> None:
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def test_the_deadline_waits_for_an_import_then_fires(tmp_path, monkeypatch):
    name = _package(tmp_path, monkeypatch, "graphtool_slow_import", sleep=1.0)
    start = time.perf_counter()
    with pytest.raises(GraphtoolError, match=r"did not finish within 0\.2 s"), deadline(0.2, "loading"):
        importlib.import_module(name)
        time.sleep(10)  # the hang the deadline is for: interrupted once the import is done
    elapsed = time.perf_counter() - start
    try:
        assert importlib.import_module(name).first.value() == 42  # a later import in this process works
    finally:
        _forget(name)
    assert 1.0 <= elapsed < 5


def test_an_import_that_hangs_is_still_interrupted_after_the_grace(tmp_path, monkeypatch):
    name = _package(tmp_path, monkeypatch, "graphtool_hung_import", sleep=30)
    monkeypatch.setattr(deadline_module, "IMPORT_GRACE_S", 0.5)
    start = time.perf_counter()
    try:
        with pytest.raises(GraphtoolError, match="did not finish"), deadline(0.2, "loading"):
            importlib.import_module(name)
        assert time.perf_counter() - start < 5
    finally:
        _forget(name)


SLOW_FIRST_TORCH = """
import sys
from converter import api
from converter.core.errors import GraphtoolError
try:
    api.load(sys.argv[1] + ":model", timeout=0.3)  # it runs out while torch is first imported
except GraphtoolError as error:
    assert "did not finish within" in str(error), error
loaded = api.load(sys.argv[1] + ":model")
print("loaded", loaded.source.strategy)
"""


@pytest.mark.slow
def test_a_load_after_a_timeout_during_the_first_torch_import_works(tmp_path):
    """Reported as test_hostile then test_sources_torch in one session: 'partially initialized module torch'."""
    model = tmp_path / "double.py"
    model.write_text("import torch\n\nclass Double(torch.nn.Module):\n    def forward(self, x):\n"
                     "        return x * 2\n\ndef model():\n    return Double(), (torch.ones(2, 3),)\n")
    result = subprocess.run([sys.executable, "-c", SLOW_FIRST_TORCH, str(model)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "loaded" in result.stdout, result.stderr[-2000:]


def test_a_ctrl_c_inside_uninterrupted_arrives_once_the_block_is_done():
    steps = []
    with pytest.raises(KeyboardInterrupt), uninterrupted():
        signal.raise_signal(signal.SIGINT)  # Ctrl-C between the two steps of a whole
        steps.append("written")
        steps.append("recorded")
    assert steps == ["written", "recorded"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_uninterrupted_puts_back_the_sigterm_handler_and_delivers_to_it():
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        with uninterrupted():
            signal.raise_signal(signal.SIGTERM)
            assert received == []
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
