"""transformers cache objects: a DynamicCache example is the inputs past.N.key / value, Mamba's cache flattens to named
outputs, other caches among example values are refused in one line; the user's objects are never changed."""

from __future__ import annotations

import pytest

from converter import api
from converter.core.types import LoadOptions

MODELS = '''
import torch
from transformers import LlamaConfig, LlamaForCausalLM, MambaConfig, MambaForCausalLM


def llama_with_cache():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        cache = model(input_ids=torch.randint(0, 64, (1, 5)), use_cache=True).past_key_values
    return model, {"input_ids": torch.randint(0, 64, (1, 1)), "cache": cache}


def mamba():
    torch.manual_seed(0)
    config = MambaConfig(vocab_size=64, hidden_size=32, state_size=8, num_hidden_layers=2, expand=2, conv_kernel=4)
    return MambaForCausalLM(config).eval(), (torch.randint(0, 64, (1, 6)),)


def mamba_with_cache():
    model, (ids,) = mamba()
    with torch.no_grad():
        cache = model(ids, use_cache=True).cache
    return model, {"input_ids": ids[:, -1:], "cache": cache}
'''


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "cache_models.py"
    path.write_text(MODELS)
    return path


@pytest.mark.slow
def test_mamba_cache_outputs_are_named_states(models, tmp_path):
    import onnx

    result = api.convert(f"{models}:mamba", "onnx", tmp_path / "mamba.onnx", LoadOptions())
    assert result.report.verdict == "passed"
    outputs = [o.name for o in onnx.load(str(result.output)).graph.output]
    assert outputs == ["logits", "present.0.conv", "present.0.recurrent", "present.1.conv", "present.1.recurrent"]


def _factory(path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location("cache_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.slow
def test_a_dynamic_cache_example_is_the_past_inputs_and_left_as_it_was(models, tmp_path, monkeypatch):
    import onnx

    given = _factory(models, "llama_with_cache")()
    lengths = [layer.keys.shape[-2] for layer in given[1]["cache"].layers]
    from converter.sources import pyref

    resolve = pyref.resolve
    monkeypatch.setattr(pyref, "resolve", lambda ref: (lambda: given) if ref.endswith(":llama_with_cache")
                        else resolve(ref))  # the factory returns the objects this test holds
    result = api.convert(f"{models}:llama_with_cache", "onnx", tmp_path / "llama.onnx", LoadOptions())
    assert result.report.verdict == "passed"
    graph = onnx.load(str(result.output)).graph
    assert [i.name for i in graph.input] == ["input_ids", "past.0.key", "past.0.value", "past.1.key", "past.1.value"]
    presents = ["present.0.key", "present.0.value", "present.1.key", "present.1.value"]
    assert [o.name for o in graph.output] == ["logits", *presents]
    assert [layer.keys.shape[-2] for layer in given[1]["cache"].layers] == lengths


@pytest.mark.slow
def test_a_cache_graphtool_cannot_take_is_refused_in_one_line(models, tmp_path, cli):
    result = cli("convert", f"{models}:mamba_with_cache", "--to", "onnx", "-o", tmp_path / "mamba.onnx")
    assert result.exit_code == 2, result.output
    assert "example input cache is a transformers DynamicCache" in result.stderr
    assert "use_cache=False" in result.stderr and "Traceback" not in result.stderr
