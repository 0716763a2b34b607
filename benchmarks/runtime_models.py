"""The models `bench_runtimes.py` times: transformers' ResNet-50 and a BERT-class encoder, from configs, seeded."""

from __future__ import annotations

import torch

SEQUENCE = 128


def resnet50():
    """ResNet-50 (transformers' ResNetConfig defaults: depths 3-4-6-3, bottlenecks), 224x224, random weights."""
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    model = ResNetForImageClassification(ResNetConfig(num_labels=1000)).eval()
    return model, (torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)),)


def bert():
    """A BERT-class encoder: 4 layers, hidden 256, 4 heads, sequence 128, random weights."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    ids = torch.randint(0, config.vocab_size, (1, SEQUENCE), generator=torch.Generator().manual_seed(1))
    return BertModel(config).eval(), (ids,)


def efficientnet_b0():
    """bench_efficientnet.py's timm-like EfficientNet-B0 (batch norms calibrated on random inputs), 224x224."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_efficientnet import MODELS, SIZE, _calibrated

    torch.manual_seed(0)
    module = _calibrated(MODELS["efficientnet_b0"]())
    return module, (torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)),)
