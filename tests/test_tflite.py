"""TFLite target: SavedModel -> .tflite, run with TensorFlow's interpreter, compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")

from test_savedmodel import _model  # noqa: E402

from converter.targets.savedmodel import write_savedmodel  # noqa: E402
from converter.targets.tflite import run_tflite, write_tflite  # noqa: E402

pytestmark = pytest.mark.slow


def test_tflite_matches_onnxruntime(tmp_path):
    model = _model()
    saved = write_savedmodel(model, tmp_path / "saved")
    result = write_tflite(saved.directory, tmp_path / "model.tflite")
    assert result.size_bytes == (tmp_path / "model.tflite").stat().st_size > 0
    assert not result.select_tf_ops
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    got = run_tflite(result.path, {"pixels_0": x})
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, {"pixels:0": x})
    np.testing.assert_allclose(got["features_out"], want[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["pooled"], want[1], rtol=1e-4, atol=1e-5)
