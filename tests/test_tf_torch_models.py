"""Models exported by torch.onnx (random seeded weights) convert to TensorFlow and match PyTorch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")

from converter.backends import tf as backend  # noqa: E402
from converter.targets.tf import count_transposes  # noqa: E402

pytestmark = pytest.mark.slow


def _export(module, example) -> onnx.ModelProto:
    return torch.onnx.export(module.eval(), (example,), dynamo=True, optimize=True).model_proto


def _cnn():
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2),
        nn.BatchNorm2d(16),
        nn.Hardswish(),
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    )


@pytest.mark.parametrize(
    "make, shape",
    [
        (_cnn, (2, 3, 32, 32)),
        (lambda: torch.nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, batch_first=True), (2, 7, 32)),
        (lambda: torch.nn.LSTM(6, 8, num_layers=2, batch_first=True), (3, 5, 6)),
    ],
    ids=["cnn", "transformer_layer", "lstm"],
)
def test_exported_model_matches_torch(make, shape):
    torch.manual_seed(0)
    module = make()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    example = torch.randn(*shape)
    model = _export(module, example)
    with torch.no_grad():
        expected = module.eval()(example)
    expected = expected[0] if isinstance(expected, tuple) else expected
    rep = backend.prepare(model)
    got = rep.run([example.numpy()])[0]
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-5)
    if shape[1] == 3:
        assert count_transposes(rep.module) == 1  # only the NCHW input; Flatten follows a 1x1 pool
