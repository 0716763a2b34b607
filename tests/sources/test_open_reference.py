"""open_reference: the source as its own framework runs it, read as load reads it, with nothing traced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converter.core.types import LoadOptions
from converter.sources import load, open_reference

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.mark.parametrize("source", ["torch/cnn.pt2", "torch_models.py:two_heads", "tf/keras_two_io.keras",
                                    "tf/keras_cnn_savedmodel"])
def test_it_answers_as_the_loaded_models_reference(source):
    loaded = load(FIXTURES / source)
    expected = loaded.reference(loaded.example_inputs)
    got = open_reference(FIXTURES / source)(loaded.example_inputs)
    assert len(got) == len(expected)
    for a, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, e)


def test_nothing_is_traced(monkeypatch):
    from converter.sources import torch as torch_source

    def refuse(*args, **kwargs):
        raise AssertionError("captured")

    monkeypatch.setattr(torch_source, "capture", refuse)
    reference = open_reference(f"{FIXTURES}/torch_models.py:mlp", LoadOptions(input_specs=("x:batch,16",)))
    assert reference({"x": np.ones((5, 16), np.float32)})[0].shape == (5, 4)
