"""The CLI's errors: one line on stderr, exit 2; --debug first prints the chain down to the framework's frame."""

from __future__ import annotations

import os
import subprocess
import sys

import onnx
import pytest
from conftest import ROOT
from onnx import TensorProto, helper

CHAINED = ("Traceback", "During handling of the above exception", "The above exception was the direct cause")
CHECKER_FRAME = os.path.join("onnx", "checker.py")


@pytest.fixture
def unsorted(tmp_path):
    """An .onnx file that onnx's checker rejects: a node reads a tensor nothing writes."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["missing"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "unsorted.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), path)
    return path


def test_an_error_is_one_line_without_its_chain(cli, unsorted):
    result = cli("convert", unsorted, "--to", "onnx", "-o", unsorted.with_name("out.onnx"))
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"graphtool: error: {unsorted}: fails onnx's model checker: ")
    assert not any(text in result.stderr for text in CHAINED)


def test_debug_shows_the_chain_down_to_onnxs_own_frame(cli, unsorted):
    args = ("convert", unsorted, "--to", "onnx", "-o", unsorted.with_name("out.onnx"))
    one_line = cli(*args).stderr.strip()
    result = cli("--debug", *args)
    assert result.exit_code == 2
    stderr = result.stderr
    assert CHECKER_FRAME in stderr and "ValidationError" in stderr
    assert "The above exception was the direct cause of the following exception" in stderr
    assert stderr.index("ValidationError") < stderr.index("converter.core.errors.GraphtoolError")
    assert stderr.strip().splitlines()[-1] == one_line  # the traceback ends with the same one line


def test_the_process_exits_2_with_and_without_debug(unsorted):
    def run(*flags):
        return subprocess.run([sys.executable, "-m", "converter", *flags, "convert", str(unsorted), "--to", "onnx",
                               "-o", str(unsorted.with_name("out.onnx"))],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)

    plain, debug = run(), run("--debug")
    assert (plain.returncode, debug.returncode) == (2, 2)
    assert len(plain.stderr.splitlines()) == 1 and not any(text in plain.stderr for text in CHAINED)
    assert CHECKER_FRAME in debug.stderr and debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()


def test_an_unexpected_error_shows_its_chain_under_debug(cli, monkeypatch, unsorted):
    from converter import api

    def broken(*args, **kwargs):
        try:
            {}["key"]
        except KeyError as error:
            raise RuntimeError("a bug") from error

    monkeypatch.setattr(api, "convert", broken)
    plain = cli("convert", unsorted)
    assert plain.exit_code == 2
    assert plain.stderr.splitlines() == ["graphtool: error: unexpected RuntimeError: a bug "
                                         "(rerun with --debug for details)"]
    debug = cli("--debug", "convert", unsorted)
    assert debug.exit_code == 2
    assert "KeyError: 'key'" in debug.stderr and "direct cause" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == "graphtool: error: unexpected RuntimeError: a bug"
