"""Format detection from content, not suffix."""

from __future__ import annotations

import shutil

import pytest
from conftest import FIXTURES, TF_DIR, TORCH_DIR

from converter.core.errors import GraphtoolError
from converter.sources.formats import Format, detect


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (TORCH_DIR / "mlp.ts", Format.TORCHSCRIPT),
        (TORCH_DIR / "mlp.pt2", Format.EXPORTED_PROGRAM),
        (TORCH_DIR / "mlp_module.pt", Format.TORCH_PICKLE),
        (TORCH_DIR / "mlp_state_dict.pth", Format.TORCH_PICKLE),
        (TF_DIR / "keras_cnn.keras", Format.KERAS),
        (TF_DIR / "keras_cnn.h5", Format.H5),
        (TF_DIR / "keras_cnn_savedmodel", Format.SAVEDMODEL),
    ],
)
def test_detects_each_fixture_format(path, expected):
    assert detect(str(path)).format is expected


@pytest.mark.parametrize("source", ["mlp.ts", "mlp.pt2", "mlp_state_dict.pth"])
def test_suffix_does_not_decide(tmp_path, source):
    disguised = tmp_path / "model.onnx"
    shutil.copy(TORCH_DIR / source, disguised)
    assert detect(str(disguised)).format is detect(str(TORCH_DIR / source)).format


def test_onnx_detected_by_parsing(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "weights.bin"
    onnx.save(helper.make_model(graph), path)
    assert detect(str(path)).format is Format.ONNX


def test_python_reference():
    assert detect(f"{FIXTURES / 'torch_models.py'}:mlp").format is Format.PYTHON
    assert detect("package.module:factory").format is Format.PYTHON


def test_override_wins():
    assert detect(str(TORCH_DIR / "mlp.ts"), "onnx").format is Format.ONNX
    assert detect("anything", "pt2").format is Format.EXPORTED_PROGRAM


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (bytes(range(256)) * 4, "not a model graphtool recognizes"),
        (b"PK\x03\x04 broken zip", "damaged zip"),
        (b"hello, world, this is text", "not a model graphtool recognizes"),
    ],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(GraphtoolError, match=message):
        detect(str(path))


def test_missing_and_directory(tmp_path):
    with pytest.raises(GraphtoolError, match="no such file"):
        detect(str(tmp_path / "absent.onnx"))
    with pytest.raises(GraphtoolError, match="not a SavedModel"):
        detect(str(tmp_path))


def test_unknown_override():
    with pytest.raises(GraphtoolError, match="unknown format"):
        detect("x.onnx", "caffe")
