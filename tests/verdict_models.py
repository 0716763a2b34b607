"""Small seeded look-alikes of the architectures whose verdicts went wrong: factories for `file.py:NAME`."""

from __future__ import annotations

import torch
from torch import nn


def _bn(channels: int) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels)
    with torch.no_grad():  # trained-looking statistics, so the outputs are not ~0
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.2, 0.2)
    return norm


class _Basic(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), _bn(channels)
        self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), _bn(channels)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class ResNetLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), _bn(16), nn.ReLU())
        self.blocks = nn.Sequential(_Basic(16), _Basic(16))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


class _SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(channels, channels // 4, 1), nn.Conv2d(channels // 4, channels, 1)

    def forward(self, x):
        return x * nn.functional.hardsigmoid(self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True)))))


class MobileNetV3Like(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), _bn(16), nn.Hardswish())
        self.block = nn.Sequential(
            nn.Conv2d(16, 32, 1, bias=False), _bn(32), nn.Hardswish(),
            nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), _bn(32), nn.Hardswish(),
            _SqueezeExcite(32), nn.Conv2d(32, 16, 1, bias=False), _bn(16))
        self.head = nn.Sequential(nn.Linear(16, 32), nn.Hardswish(), nn.Linear(32, 10))

    def forward(self, x):
        x = self.stem(x)
        return self.head((x + self.block(x)).mean((2, 3)))


class _MixerBlock(nn.Module):
    def __init__(self, tokens: int, channels: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.tokens = nn.Sequential(nn.Linear(tokens, 2 * tokens), nn.GELU(), nn.Linear(2 * tokens, tokens))
        self.channels = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))

    def forward(self, x):
        x = x + self.tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channels(self.norm2(x))


class MixerLike(nn.Module):
    """Patches, mixer blocks, a LayerNorm: over a constant (zeros) input the LayerNorm amplifies float noise."""

    def __init__(self) -> None:
        super().__init__()
        self.patches = nn.Conv2d(3, 32, 4, stride=4)
        self.blocks = nn.Sequential(_MixerBlock(16, 32), _MixerBlock(16, 32))
        self.norm, self.head = nn.LayerNorm(32), nn.Linear(32, 10)

    def forward(self, x):
        x = self.blocks(self.patches(x).flatten(2).transpose(1, 2))
        return self.head(self.norm(x).mean(1))


class RepViTLike(nn.Module):
    """Depthwise token mixer (3x3 + 1x1 + identity, as re-parameterised), SE, then a channel MLP, all residual."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), _bn(16), nn.GELU(),
                                  nn.Conv2d(16, 32, 3, stride=2, padding=1), _bn(32))
        self.dw3 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), _bn(32))
        self.dw1 = nn.Sequential(nn.Conv2d(32, 32, 1, groups=32, bias=False), _bn(32))
        self.se = _SqueezeExcite(32)
        self.mlp = nn.Sequential(nn.Conv2d(32, 64, 1), _bn(64), nn.GELU(), nn.Conv2d(64, 32, 1), _bn(32))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem(x)
        x = self.se(x + self.dw3(x) + self.dw1(x))
        return self.head((x + self.mlp(x)).mean((2, 3)))


class _ShuffleUnit(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.branch = nn.Sequential(nn.Conv2d(half, half, 1, bias=False), _bn(half), nn.ReLU(),
                                    nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False), _bn(half),
                                    nn.Conv2d(half, half, 1, bias=False), _bn(half), nn.ReLU())

    def forward(self, x):
        kept, changed = x.chunk(2, dim=1)
        x = torch.cat((kept, self.branch(changed)), 1)
        n, c, h, w = x.shape
        return x.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)  # the channel shuffle


class ShuffleNetLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), _bn(16), nn.ReLU())
        self.units = nn.Sequential(_ShuffleUnit(16), _ShuffleUnit(16))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.units(self.stem(x)).mean((2, 3)))


class DeepLabV3Like(nn.Module):
    """A backbone, an ASPP of dilated convolutions and image pooling, and a bilinear upsampling to the input."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), _bn(16), nn.ReLU())
        self.rates = nn.ModuleList(nn.Sequential(nn.Conv2d(16, 8, 3, padding=r, dilation=r, bias=False), _bn(8),
                                                 nn.ReLU()) for r in (1, 2, 3))
        self.pool = nn.Sequential(nn.Conv2d(16, 8, 1), nn.ReLU())
        self.classify = nn.Conv2d(32, 5, 1)

    def forward(self, x):
        f = self.backbone(x)
        pooled = self.pool(f.mean((2, 3), keepdim=True)).expand(-1, -1, f.shape[2], f.shape[3])
        y = self.classify(torch.cat([*(rate(f) for rate in self.rates), pooled], 1))
        return nn.functional.interpolate(y, size=x.shape[2:], mode="bilinear", align_corners=False)


def _image_model(module: nn.Module):
    torch.manual_seed(0)
    built = module().eval()
    return built, (torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)),)


def resnet():
    return _image_model(ResNetLike)


def mobilenet_v3():
    return _image_model(MobileNetV3Like)


def mixer():
    return _image_model(MixerLike)


def repvit():
    return _image_model(RepViTLike)


def shufflenet():
    return _image_model(ShuffleNetLike)


def deeplabv3():
    return _image_model(DeepLabV3Like)


def padded_encoder():
    """nn.TransformerEncoder with a padding mask, in eval mode: PyTorch's fast path zeroes the padded positions."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2).eval()

    class Padded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, src, src_key_padding_mask):
            return self.encoder(src, src_key_padding_mask=src_key_padding_mask)

    mask = torch.tensor([[False] * 6 + [True] * 2, [False] * 4 + [True] * 4])
    return Padded().eval(), (torch.randn(2, 8, 16, generator=torch.Generator().manual_seed(1)), mask)


class _Flat(nn.Module):
    """A LayerNorm over features that the zeros sample makes all equal (a bias of one value): there it divides
    float32 rounding noise by sqrt(eps), and every runtime's rounding gives another answer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.norm, self.head = nn.Linear(8, 24), nn.LayerNorm(24), nn.Linear(24, 4)
        with torch.no_grad():
            self.embed.bias.fill_(77.7)

    def forward(self, x):
        return self.head(self.norm(self.embed(x)))


def flat_under_zeros():
    torch.manual_seed(0)
    return _Flat().eval(), (torch.randn(2, 8, generator=torch.Generator().manual_seed(1)),)
