"""Data-dependent code in a torch model: refused with the user's line (and the library's) or converted right."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

_DETECTION = """
import torch
from torch import nn


def select(scores, boxes, threshold):
    keep = scores > threshold
    if keep.sum() == 0:
        return boxes[:0]
    kept = boxes[keep]
    return kept[scores[keep].argsort(descending=True)[: min(kept.shape[0], 3)]]


class Head(nn.Module):
    def __init__(self, nms):
        super().__init__()
        torch.manual_seed(0)
        self.linear, self.nms = nn.Linear(8, 5), nms

    def forward(self, feats):
        out = self.linear(feats)
        scores, boxes = out[..., 0].sigmoid(), out[..., 1:]
        return select(scores, boxes, 0.5) if self.nms else boxes[scores > 0.5]


def nms():
    return Head(True), (torch.randn(10, 8),)


def masked():
    return Head(False), (torch.randn(10, 8),)
"""

# Mixtral's sparse block: only the experts some token routes to run; `gated` asks each expert, as the brief's router
_EXPERTS = """
import torch
from torch import nn


class Experts(nn.Module):
    def __init__(self, gated, dim=8, experts=4):
        super().__init__()
        torch.manual_seed(0)
        self.gated, self.gate = gated, nn.Linear(dim, experts, bias=False)
        self.experts = nn.ModuleList(nn.Linear(dim, dim) for _ in range(experts))

    def forward(self, x):
        weights, selected = torch.topk(self.gate(x).softmax(-1), 2, dim=-1)
        out = torch.zeros_like(x)
        if self.gated:
            for e in range(len(self.experts)):
                token, slot = (selected == e).nonzero(as_tuple=True)
                if token.numel():
                    out[token] += weights[token, slot, None] * self.experts[e](x[token])
            return out
        mask = nn.functional.one_hot(selected, len(self.experts)).permute(2, 1, 0)
        for expert in (mask.sum(dim=(-1, -2)) > 0).nonzero():
            slot, token = torch.where(mask[expert].squeeze(0))
            out.index_add_(0, token, self.experts[expert](x[token]) * weights[token, slot, None])
        return out
"""

_MODELS = """
import sys
import torch
from torch import nn

sys.path.insert(0, {library!r})
from experts import Experts


class Seq2Seq(nn.Module):
    def __init__(self, causal):
        super().__init__()
        torch.manual_seed(0)
        self.causal = causal
        self.t = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                dim_feedforward=16, batch_first=True, dropout=0.0)

    def forward(self, src, tgt, tgt_mask):
        return self.t(src, tgt, tgt_mask=tgt_mask, tgt_is_causal=self.causal or None)


class Unused(nn.Module):
    def forward(self, x, y):
        return x * 2


def _seq2seq(causal):
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    return Seq2Seq(causal), (torch.randn(1, 5, 8), torch.randn(1, 4, 8), mask)


def seq2seq():
    return _seq2seq(False)


def causal():
    return _seq2seq(True)


def unused():
    return Unused(), (torch.randn(2, 3), torch.randn(2, 3))


def mixtral():
    return Experts(False), (torch.ones(6, 8),)


def gated():
    return Experts(True), (torch.ones(6, 8),)


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.moe = nn.Embedding(16, 8), Experts(False)

    def forward(self, ids):
        return self.moe(self.embed(ids))


def tokens():
    return Tokens(), (torch.ones(6, dtype=torch.long),)
"""


def _line(source: str, code: str) -> int:
    """1-based line of `code` in `source` as written to a file."""
    return next(i for i, text in enumerate(textwrap.dedent(source).splitlines(), 1) if code in text)


@pytest.fixture
def models(tmp_path) -> Path:
    """The models file; its experts live in an installed-looking library (site-packages), as Mixtral's do."""
    library = tmp_path / "site-packages"
    library.mkdir()
    (library / "experts.py").write_text(_EXPERTS)
    (tmp_path / "detection.py").write_text(_DETECTION)
    path = tmp_path / "models.py"
    path.write_text(_MODELS.format(library=str(library)))
    return path


def _convert(cli, tmp_path, source, *options):
    return cli("convert", source, "--to", "onnx", "-o", tmp_path / "out.onnx", "--force", *options)


@pytest.mark.parametrize(("file", "refused", "code", "library", "converted"), [
    # an NMS-like selection: a branch on the kept count refused; a plain mask selection converts
    ("detection.py", "nms", "if keep.sum() == 0:", "", "masked"),
    # nn.Transformer's causal-mask check is in torch: both lines named, and the hint, followed, converts
    ("models.py", "seq2seq", "return self.t(src, tgt", "inside torch/nn/modules/transformer.py:", "causal"),
])
def test_data_dependent_code_is_refused_with_the_users_line_or_converts(
    cli, tmp_path, models, file, refused, code, library, converted,
):
    result = _convert(cli, tmp_path, f"{tmp_path / file}:{refused}")
    assert result.exit_code == 2, result.output
    text = _DETECTION if file == "detection.py" else _MODELS
    assert f"{file}:{_line(text, code)} (`{code}" in result.stderr
    assert library in result.stderr and "torch.cond or torch.where" in result.stderr
    assert ("tgt_is_causal=True" in result.stderr) == bool(library)
    done = _convert(cli, tmp_path, f"{tmp_path / file}:{converted}")
    assert done.exit_code == 0 and "PASSED" in done.output, done.output


@pytest.mark.parametrize(("factory", "ones", "code"), [
    ("mixtral", {"x": np.ones((6, 8), np.float32)}, "for expert in (mask.sum"),  # iterating over a tensor
    ("gated", {"x": np.ones((6, 8), np.float32)}, "if token.numel():"),  # a tensor as a Python bool
    ("tokens", {"ids": np.ones(6, np.int64)}, "for expert in (mask.sum"),  # token ids: drawn within the vocabulary
])
def test_experts_traced_on_all_ones_never_pass(cli, tmp_path, models, factory, ones, code):
    """Each was once only a note, coming from library code; now the capture runs on inputs routed elsewhere."""
    np.savez(tmp_path / "ones.npz", **ones)
    ones = tmp_path / "ones.npz"
    result = _convert(cli, tmp_path, f"{models}:{factory}", "--trace", "torchscript", "--inputs", ones)
    assert result.exit_code == 2, result.output
    assert "PASSED" not in result.output
    assert f"experts.py:{_line(_EXPERTS, code)}" in result.stderr
    assert "data-dependent code" in result.stderr and "torch.cond or torch.where" in result.stderr


@pytest.mark.parametrize(("factory", "name", "hint"), [("unused", "y", ""), ("seq2seq", "tgt_mask", "tgt_is_causal")])
def test_an_input_the_trace_dropped_is_refused_by_name(cli, tmp_path, models, factory, name, hint):
    result = _convert(cli, tmp_path, f"{models}:{factory}", "--trace", "torchscript")
    assert result.exit_code == 2, result.output
    assert f"input {name} is not in the traced graph" in result.stderr
    assert hint in result.stderr
