"""keras_hub backbones and task models (tiny, random weights) convert to ONNX, SavedModel and pt2 and validate
against Keras at two batch sizes, called with the dict of inputs they were built with."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

pytest.importorskip("keras_hub")
pytest.importorskip("torch")

from converter import api  # noqa: E402
from converter.pipelines.convert import convert  # noqa: E402

MODELS = str(Path(__file__).parents[1] / "keras_models.py")
SAMPLES = 2  # the traced inputs at batch 2, one seeded sample at batch 3
INPUTS = {
    "bert": ["padding_mask", "segment_ids", "token_ids"],
    "gpt2": ["padding_mask", "token_ids"],
    "distilbert": ["padding_mask", "token_ids"],
    "bert_classifier": ["padding_mask", "segment_ids", "token_ids"],
}
OUTPUTS = {"bert": ["pooled_output", "sequence_output"], "bert_classifier": ["logits"]}


@functools.cache
def _load(name: str):
    """Each model loaded once for the module's tests."""
    return api.load(f"{MODELS}:{name}")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(INPUTS))
def test_inputs_are_the_dict_keys_and_outputs_keep_their_names(name):
    model = _load(name).model
    assert [i.name for i in model.graph.input] == INPUTS[name]
    if name in OUTPUTS:
        assert [o.name for o in model.graph.output] == OUTPUTS[name]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["onnx", "savedmodel", "pt2"])
@pytest.mark.parametrize("name", ["bert", "gpt2", "distilbert"])
def test_backbone_converts_and_validates_at_two_batch_sizes(name, target, tmp_path):
    loaded = _load(name)
    result = convert(lambda: loaded, target, tmp_path / f"model.{target}", samples=SAMPLES)
    assert result, result.to_dict()["validation"]
    assert result.report.verdict == "passed"
    assert {s.sizes["batch"] for s in result.report.samples} == {2, 3}
    tokens = [s.feeds["token_ids"] for s in result.report.samples]
    assert all(t.min() >= 0 and t.max() < 100 for t in tokens)  # below the vocabulary


@pytest.mark.slow
def test_task_model_converts_to_pt2(tmp_path):
    loaded = _load("bert_classifier")
    result = convert(lambda: loaded, "pt2", tmp_path / "model.pt2", samples=SAMPLES)
    assert result and result.report.verdict == "passed"
    segments = [s.feeds["segment_ids"] for s in result.report.samples]
    assert all(s.max() < 2 for s in segments)  # BERT has two segment embeddings


@pytest.mark.slow
def test_backbone_with_exact_gelu_to_tflite_is_refused_naming_the_op(cli, tmp_path):
    """DistilBERT's exact GELU is a Select TF op (FlexErf); its dynamic sequence lets the interpreter allocate it,
    so only running it once shows the interpreter cannot."""
    result = cli("convert", f"{MODELS}:distilbert", "--to", "tflite", "-o", tmp_path / "d.tflite")
    assert result.exit_code == 2, result.output
    assert "cannot run: Erf (FlexErf)" in " ".join(result.output.split())
    assert not list(tmp_path.iterdir())
