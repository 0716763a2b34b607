"""transformers' mixture-of-experts layers are captured through batched_mm and put back as the user had them."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from matrix_models import mixtral  # noqa: E402

from converter.sources.torch_experts import batched_experts  # noqa: E402


@pytest.mark.slow
def test_grouped_experts_are_batched_while_capturing_then_put_back():
    model, _ = mixtral()
    experts = model.model.model.layers[0].mlp.experts
    assert experts.config._experts_implementation == "grouped_mm"
    with batched_experts(model) as switched:
        assert switched and experts.config._experts_implementation == "batched_mm"
    assert experts.config._experts_implementation == "grouped_mm"


def test_a_module_without_experts_is_left_alone():
    torch = pytest.importorskip("torch")
    with batched_experts(torch.nn.Linear(2, 2)) as switched:
        assert not switched
