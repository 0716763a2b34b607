"""convert --to every target: written, loadable the way its framework loads it, and validated."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TF_DIR, TORCH_DIR

from converter import api
from converter.errors import GraphtoolError


@pytest.mark.slow
def test_torch_to_savedmodel_keeps_names_and_validates(cli, tmp_path):
    out = tmp_path / "two_heads_savedmodel"
    result = cli("convert", TORCH_DIR / "two_heads.pt2", "--to", "savedmodel", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["passed"] and document["validation"]["reference"] == "torch"
    assert document["validation"]["devices"][0]["runner"] == "tensorflow SavedModel"
    import tensorflow as tf

    signature = tf.saved_model.load(str(out)).signatures["serving_default"]
    assert sorted(signature.structured_input_signature[1]) == ["features", "meta"]
    outputs = signature(features=tf.ones((3, 12)), meta=tf.ones((3, 4)))
    assert sorted(outputs) == ["output_0", "output_1"] and outputs["output_0"].shape == (3, 3)


@pytest.mark.slow
def test_torch_to_tflite(tmp_path):
    result = api.convert(str(TORCH_DIR / "cnn.pt2"), "tflite", tmp_path / "cnn.tflite")
    assert result and result.report.devices[0].runner == "TFLite interpreter"
    assert (tmp_path / "cnn.tflite").stat().st_size == result.artifact["size_bytes"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.tflite"]  # the SavedModel in between is gone


@pytest.mark.slow
@pytest.mark.parametrize("target", ["pt2", "torchscript"])
def test_keras_to_torch_targets(tmp_path, target):
    import torch

    out = tmp_path / f"model.{target}"
    result = api.convert(str(TF_DIR / "keras_cnn.keras"), target, out)
    assert result, result.report.to_dict()
    module = torch.export.load(str(out)).module() if target == "pt2" else torch.jit.load(str(out))
    image = np.random.default_rng(0).standard_normal((2, 16, 16, 3)).astype(np.float32)
    assert tuple(module(torch.from_numpy(image)).shape) == (2, 10)  # the NHWC interface is kept


def test_default_outputs(tmp_path):
    assert api.default_output(str(tmp_path / "m.pt"), "savedmodel") == tmp_path / "m_savedmodel"
    assert api.default_output(str(tmp_path / "m.keras"), "pt2") == tmp_path / "m.pt2"
    assert api.default_output(str(tmp_path / "m.pt2"), "pt2") == tmp_path / "m.converted.pt2"
    assert api.default_output(str(tmp_path / "m.onnx"), "onnx") == tmp_path / "m.normalized.onnx"
    with pytest.raises(GraphtoolError, match="unknown target; expected one of onnx, savedmodel, tflite"):
        api.default_output("m.pt", "caffe")
