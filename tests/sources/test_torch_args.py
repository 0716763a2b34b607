"""forward() arguments by name, defaults kept, and output structures flattened to names (no export needed)."""

from __future__ import annotations

import pytest

from converter.core.errors import GraphtoolError
from converter.sources.torch_args import (
    Argument,
    as_kwargs,
    call_checked,
    choose,
    describe_arguments,
    flatten_outputs,
)

BERT_LIKE = [Argument("input_ids", False), Argument("attention_mask", False), Argument("use_cache", False)]


def test_given_arguments_are_traced_in_forward_order_and_defaults_kept():
    params = [Argument("x", True), *BERT_LIKE]
    assert choose(params, ["input_ids", "x"], "m.py:f", "--input") == ["x", "input_ids"]
    assert describe_arguments(params, ["x", "input_ids"]) == (
        "traced forward() argument(s) x, input_ids; kept the default of attention_mask, use_cache")
    assert describe_arguments(params[:1], ["x"]) is None


def test_a_missing_required_argument_is_named():
    params = [Argument("pixel_values", True), Argument("labels", False)]
    with pytest.raises(GraphtoolError, match=r"^m.py:f: forward\(\) requires pixel_values, not given; pass "
                                             r"--input pixel_values:DIMS"):
        choose(params, ["labels"], "m.py:f", "--input")


def test_an_unknown_argument_lists_forward_s():
    with pytest.raises(GraphtoolError, match=r"--input ids: forward\(\) has no argument 'ids'; it takes input_ids, "
                                             r"attention_mask, use_cache"):
        choose(BERT_LIKE, ["ids"], "m.py:f", "--input")


def test_dict_argument_entries_are_inputs_of_their_own():
    params = [Argument("batch", True), Argument("scale", False)]
    assert choose(params, ["batch.image", "batch.ids"], "m", "--input") == ["batch.image", "batch.ids"]
    assert as_kwargs(["batch.image", "batch.ids", "x"], [1, 2, 3]) == {"batch": {"image": 1, "ids": 2}, "x": 3}
    assert describe_arguments(params, ["batch.image"]).endswith("kept the default of scale")


def test_a_dict_entry_of_no_argument_is_named():
    params = [Argument("batch", True), Argument("scale", False)]
    with pytest.raises(GraphtoolError, match=r"^--inputs d.npz: array other.ids: forward\(\) has no argument "
                                             r"'other'; it takes batch, scale \(a dict argument's entries as "
                                             r"ARG.KEY, e.g. batch.image\)$"):
        choose(params, ["batch.image", "other.ids"], "m", "--inputs d.npz: array")


def test_a_dict_key_read_but_not_given_is_one_line():
    def forward(batch, scale=1):
        return batch["image"] + batch.get("bias", 0) + batch["ids"] * scale

    assert call_checked(forward, ["batch.image", "batch.ids"], [1, 2], {"scale": 3}, "--input") == 7
    message = r"^--input: forward\(\) reads batch\['ids'\], but no batch.ids is given; a dict argument needs every "
    with pytest.raises(GraphtoolError, match=message + r"key it reads \(given: batch.image\)$"):
        call_checked(forward, ["batch.image"], [1], None, "--input")


class _Layer:
    def __init__(self, index: int) -> None:
        self.keys, self.values = f"k{index}", f"v{index}"


class DynamicCache:
    def __init__(self, layers: int) -> None:
        self.layers = [_Layer(i) for i in range(layers)]


class EncoderDecoderCache:
    def __init__(self) -> None:
        self.self_attention_cache, self.cross_attention_cache = DynamicCache(1), DynamicCache(1)


def test_structures_flatten_to_documented_names():
    result = {"last_hidden_state": "h", "cache": DynamicCache(2), "attentions": None, "hidden": ("a", ("b", "c"))}
    assert list(flatten_outputs(result)) == [
        ("last_hidden_state", "h"), ("present.0.key", "k0"), ("present.0.value", "v0"), ("present.1.key", "k1"),
        ("present.1.value", "v1"), ("hidden_0", "a"), ("hidden_1_0", "b"), ("hidden_1_1", "c"),
    ]
    assert [n for n, _ in flatten_outputs(EncoderDecoderCache())] == [
        "present.0.key", "present.0.value", "present.0.cross_key", "present.0.cross_value"]
    assert list(flatten_outputs("t")) == [("output", "t")]
    assert [n for n, _ in flatten_outputs(("a", "b"))] == ["output_0", "output_1"]


def test_nested_outputs_keep_their_path_where_a_key_repeats():
    result = {"logits": "l", "text_model_output": {"last_hidden_state": "t", "pooler_output": "tp", "extra": "e"},
              "vision_model_output": {"last_hidden_state": "v", "pooler_output": "vp"},
              "pairs": ({"a": "p0"}, {"a": "p1"})}
    assert list(flatten_outputs(result)) == [
        ("logits", "l"), ("text_model_output.last_hidden_state", "t"), ("text_model_output.pooler_output", "tp"),
        ("extra", "e"), ("vision_model_output.last_hidden_state", "v"), ("vision_model_output.pooler_output", "vp"),
        ("pairs_0.a", "p0"), ("pairs_1.a", "p1"),
    ]


class _LinearAttentionLayer:
    def __init__(self, index: int) -> None:
        self.conv_states, self.recurrent_states = {0: f"c{index}"}, {0: f"r{index}"}


def test_a_mamba_style_cache_flattens_to_its_states():
    cache = DynamicCache(0)
    cache.layers = [_LinearAttentionLayer(0), _LinearAttentionLayer(1)]
    assert list(flatten_outputs(cache)) == [
        ("present.0.conv", "c0"), ("present.0.recurrent", "r0"),
        ("present.1.conv", "c1"), ("present.1.recurrent", "r1")]


def test_constant_arguments_are_copied_before_every_call():
    def forward(x, seen):
        seen.append(x)
        return len(seen)

    given = {"seen": []}
    assert [call_checked(forward, ["x"], [i], given, "--input") for i in range(2)] == [1, 1]
    assert given == {"seen": []}
