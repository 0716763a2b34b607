"""Without tensorflow, the TensorFlow targets fail with a one-line MissingExtraError, not an ImportError."""

from __future__ import annotations

import subprocess
import sys

import pytest
from onnx import TensorProto, helper

from converter.core.errors import MissingExtraError


def _model():
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_importing_the_targets_does_not_import_tensorflow():
    code = (
        "import sys, converter.backends.tf, converter.targets.savedmodel, converter.targets.tf, "
        "converter.targets.tflite; sys.exit('tensorflow' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_missing_tensorflow_names_the_extra(monkeypatch, tmp_path):
    from converter.targets.savedmodel import write_savedmodel
    from converter.targets.tf import from_onnx

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(MissingExtraError, match=r"graphtool\[tf\]"):
        from_onnx(_model())
    with pytest.raises(MissingExtraError):
        write_savedmodel(_model(), tmp_path / "saved")
    assert list(tmp_path.iterdir()) == []
