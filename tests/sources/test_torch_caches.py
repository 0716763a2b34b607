"""transformers cache objects: Mamba's cache flattens to named outputs, a cache among example values is refused."""

from __future__ import annotations

import pytest

from converter import api
from converter.core.errors import GraphtoolError
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


@pytest.mark.slow
def test_a_dynamic_cache_example_is_refused_in_one_line_and_left_as_it_was(models):
    import importlib.util

    spec = importlib.util.spec_from_file_location("cache_models", models)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    given = module.llama_with_cache()
    lengths = [layer.keys.shape[-2] for layer in given[1]["cache"].layers]
    from converter.sources import torch as torch_source

    with pytest.raises(GraphtoolError, match=r"example input cache is a transformers DynamicCache, which graphtool "
                                             r"cannot take as an input .* pass use_cache=False") as raised:
        torch_source.from_object(given, f"{models}:llama_with_cache")
    assert "\n" not in str(raised.value)
    assert [layer.keys.shape[-2] for layer in given[1]["cache"].layers] == lengths


@pytest.mark.slow
def test_cli_refuses_a_cache_example_with_exit_2(models, tmp_path, cli):
    result = cli("convert", f"{models}:llama_with_cache", "--to", "onnx", "-o", tmp_path / "llama.onnx")
    assert result.exit_code == 2, result.output
    assert "DynamicCache" in result.stderr and "use_cache=False" in result.stderr
