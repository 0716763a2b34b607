"""transformers' EfficientNet (from a config) to a SavedModel: its ceil-mode pooler over the whole map converts."""

from __future__ import annotations

import pytest

from converter import api
from converter.core.types import LoadOptions

MODEL = '''
import torch
from transformers import EfficientNetConfig, EfficientNetModel


def efficientnet():
    torch.manual_seed(0)
    config = EfficientNetConfig(image_size=64, width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128)
    model = EfficientNetModel(config).eval()
    with torch.no_grad():  # the default init's tiny BatchNorm scales would make every output ~0
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.running_var.uniform_(0.5, 1.5)
    return model, (torch.randn(2, 3, 64, 64),)
'''


@pytest.mark.slow
def test_efficientnet_to_savedmodel_passes(tmp_path):
    path = tmp_path / "efficientnet.py"
    path.write_text(MODEL)
    result = api.convert(f"{path}:efficientnet", "savedmodel", tmp_path / "efficientnet", LoadOptions())
    assert result.report.verdict == "passed"
