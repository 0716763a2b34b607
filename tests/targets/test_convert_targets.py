"""convert --to every target: written, loadable the way its framework loads it, and validated."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FIXTURES, TF_DIR, TORCH_DIR

from converter import api
from converter.core.errors import GraphtoolError
from converter.core.targets import TARGET_NAMES
from converter.core.types import LoadOptions
from converter.targets.artifacts import TARGETS


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
    (scores,) = module(torch.from_numpy(image)).values()
    assert tuple(scores.shape) == (2, 10)  # the NHWC interface is kept


def test_the_core_names_every_target():
    """The CLI and batch manifests know the targets by converter.core's names, without loading the writers."""
    assert tuple(TARGETS) == TARGET_NAMES == tuple(target.name for target in TARGETS.values())


def test_default_outputs(tmp_path):
    assert api.default_output(str(tmp_path / "m.pt"), "savedmodel") == tmp_path / "m_savedmodel"
    assert api.default_output(str(tmp_path / "m.keras"), "pt2") == tmp_path / "m.pt2"
    assert api.default_output(str(tmp_path / "m.pt2"), "pt2") == tmp_path / "m.converted.pt2"
    assert api.default_output(str(tmp_path / "m.onnx"), "onnx") == tmp_path / "m.normalized.onnx"
    with pytest.raises(GraphtoolError, match="unknown target; expected one of onnx, savedmodel, tflite"):
        api.default_output("m.pt", "caffe")


@pytest.mark.slow
def test_tensorflow_onnx_tensorflow_onnx_round_trip(tmp_path):
    from converter.core.runners import ort_runner

    source = api.load(str(TF_DIR / "keras_cnn.keras"))
    assert api.convert(str(TF_DIR / "keras_cnn.keras"), "savedmodel", tmp_path / "sm")
    again = api.load(str(tmp_path / "sm"))  # our SavedModel, back through tf2onnx
    image = np.random.default_rng(3).standard_normal((4, 16, 16, 3)).astype(np.float32)
    expected = source.reference({"image": image})[0]
    for model in (source.model, again.model):  # the first ONNX, and the ONNX of our SavedModel
        feeds = {model.graph.input[0].name: image}
        np.testing.assert_allclose(ort_runner(model).run(feeds)[0], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_pytorch_onnx_pytorch_round_trip(tmp_path):
    import torch

    reference = f"{FIXTURES / 'torch_models.py'}:encoder"
    options = LoadOptions(input_specs=("x:batch,seq,32",))
    source = api.load(reference, options)
    assert api.convert(reference, "pt2", tmp_path / "encoder.pt2", options)
    program = torch.export.load(str(tmp_path / "encoder.pt2")).module()
    x = np.random.default_rng(4).standard_normal((3, 5, 32)).astype(np.float32)  # not the traced (2, 2)
    (got,) = program(torch.from_numpy(x)).values()
    np.testing.assert_allclose(got.numpy(), source.reference({"x": x})[0],
                               rtol=1e-4, atol=1e-5)
