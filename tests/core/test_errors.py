"""Errors keep what they translate: a GraphtoolError raised from a framework's exception has it as __cause__."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import onnx
import pytest
from conftest import ROOT
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper

from converter.core.errors import GraphtoolError, MissingExtraError
from converter.core.frameworks import require
from converter.core.runners import ort_runner
from converter.sources.onnx import read_onnx
from converter.validation.tolerance import load_tolerance_file

# Every `raise ... from None` left in converter/, by file:function, and why it hides what it caught.
FROM_NONE_ALLOWED = {
    "converter/cli/common.py:handle_errors.wrapper": "typer.Exit after the error was printed (with --debug, "
                                                     "its traceback too): click turns it into the exit code",
    "converter/sources/formats.py:_parse_override": "our own Format(name) lookup; the message lists the names",
    "converter/targets/tf/layout.py:_OnnxView.__getitem__": "our own KeyError, raised again with the name",
}


def from_none_sites(root: Path, package: str = "converter") -> list[str]:
    """`path:qualified function` of each `raise ... from None` under root/package, once per raise."""
    sites = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        sites += [f"{relative}:{where}" for where in _from_none(ast.parse(path.read_text(), str(path)), ())]
    return sites


def _from_none(node: ast.AST, scope: tuple[str, ...]):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Raise) and isinstance(child.cause, ast.Constant) and child.cause.value is None:
            yield ".".join(scope) or "<module>"
        named = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        yield from _from_none(child, (*scope, child.name) if named else scope)


def test_only_the_allowed_raises_hide_their_cause():
    found = set(from_none_sites(ROOT))
    assert found - set(FROM_NONE_ALLOWED) == set(), "raise ... from <the caught exception>, or allow it with a reason"
    assert set(FROM_NONE_ALLOWED) - found == set(), "an allowed site is gone: drop it from the list"


def test_the_check_finds_a_planted_from_none(tmp_path):
    package = tmp_path / "converter" / "sources"
    package.mkdir(parents=True)
    (package / "planted.py").write_text(
        "class Reader:\n"
        "    def read(self, path):\n"
        "        try:\n"
        "            return open(path).read()\n"
        "        except OSError as error:\n"
        "            raise ValueError(path) from error\n"
        "        except UnicodeError:\n"
        "            raise ValueError(path) from None\n"
    )
    assert from_none_sites(tmp_path) == ["converter/sources/planted.py:Reader.read"]


def test_the_onnx_reader_keeps_protobufs_error(tmp_path):
    path = tmp_path / "damaged.onnx"
    path.write_bytes(b"\x0a\xff\xff\xff\xff\x0f not a model")
    with pytest.raises(GraphtoolError, match="not a readable ONNX model") as caught:
        read_onnx(path)
    assert isinstance(caught.value.__cause__, DecodeError)


def test_the_onnx_checker_error_is_the_cause(tmp_path):
    path = tmp_path / "unsorted.onnx"
    onnx.save(_model([helper.make_node("Relu", ["missing"], ["y"])]), path)
    with pytest.raises(GraphtoolError, match="fails onnx's model checker") as caught:
        read_onnx(path)
    assert isinstance(caught.value.__cause__, onnx.checker.ValidationError)


def test_onnxruntimes_own_error_is_the_cause():
    model = _model([helper.make_node("Imagined", ["x"], ["y"], domain="org.nowhere")],
                   helper.make_opsetid("org.nowhere", 1))
    with pytest.raises(GraphtoolError, match="onnxruntime cannot load the model") as caught:
        ort_runner(model)
    assert type(caught.value.__cause__).__module__.startswith("onnxruntime")


def test_a_missing_extra_keeps_the_import_error():
    with pytest.raises(MissingExtraError) as caught:
        require("graphtool_has_no_such_module", "nothing")
    assert isinstance(caught.value.__cause__, ImportError)


def test_a_bad_tolerance_file_keeps_jsons_error(tmp_path):
    path = tmp_path / "tolerance.json"
    path.write_text("{not json")
    with pytest.raises(GraphtoolError, match="not valid JSON") as caught:
        load_tolerance_file(path)
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)


def _model(nodes, *opsets):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), *opsets], ir_version=10)
