"""A Keras model is called with the structure it was built with: dict inputs in any key order, from a factory, a
.keras or .h5 file and a SavedModel that Keras exported; a Keras failure is one line naming the layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sources_helpers import assert_agrees

from converter.core.errors import GraphtoolError
from converter.sources.keras_structure import call_error

MODELS = str(Path(__file__).parents[1] / "keras_models.py")

# What Keras 3 raises when a functional model is called with a list where it was built with a dict.
STRUCTURE_MISMATCH = """Exception encountered when calling BertBackbone.call().

\x1b[1mThe structure of `inputs` doesn't match the expected structure.
Expected: {'token_ids': 'token_ids', 'padding_mask': 'padding_mask'}
Received: inputs=['Tensor(shape=(None, None))', 'Tensor(shape=(None, None))']\x1b[0m

Arguments received by BertBackbone.call():
  • inputs=['tf.Tensor(shape=(None, None), dtype=int32)', 'tf.Tensor(shape=(None, None), dtype=int32)']
  • training=None
  • kwargs=<class 'inspect._empty'>
"""


def test_keras_call_error_is_one_line_with_the_layer_reason_and_arguments():
    line = call_error(ValueError(STRUCTURE_MISMATCH))
    assert line is not None and "\n" not in line and "\x1b" not in line
    assert line.startswith("Keras layer BertBackbone failed: The structure of `inputs` doesn't match")
    assert "Expected: {'token_ids': 'token_ids'" in line
    assert line.endswith("(it got inputs=['tf.Tensor(shape=(None, None), dtype=int32)', "
                         "'tf.Tensor(shape=(None, None), dtype=int32)'])")  # no training=None, no unset kwargs


def test_other_errors_are_not_keras_call_errors():
    assert call_error(ValueError("shapes (2, 3) and (4, 5) not aligned")) is None


@pytest.fixture(scope="module")
def forms(tmp_path_factory) -> dict[str, str]:
    """The dict model as a factory, a .keras file, an .h5 file and a SavedModel from model.export()."""
    pytest.importorskip("tensorflow")
    import keras_models

    folder = tmp_path_factory.mktemp("unsorted_dict")
    model = keras_models.unsorted_dict()
    model.save(str(folder / "model.keras"))
    model.save(str(folder / "model.h5"))
    model.export(str(folder / "exported"), verbose=False)
    return {"python": f"{MODELS}:unsorted_dict", "keras": str(folder / "model.keras"), "h5": str(folder / "model.h5"),
            "export": str(folder / "exported")}


@pytest.mark.slow
@pytest.mark.parametrize("form", ["python", "keras", "h5", "export"])
def test_dict_inputs_in_unsorted_key_order_load_by_name(forms, form):
    from converter import api

    loaded = api.load(forms[form])
    assert [i.name for i in loaded.model.graph.input] == ["alpha", "zeta"]
    assert [o.name for o in loaded.model.graph.output] == ["hidden", "out"]
    assert_agrees(loaded)
    rng = np.random.default_rng(1)
    batch3 = {"alpha": rng.standard_normal((3, 3), np.float32), "zeta": rng.standard_normal((3, 4), np.float32)}
    assert_agrees(loaded, batch3)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["onnx", "savedmodel", "pt2"])
def test_dict_model_converts_and_validates(forms, target, tmp_path):
    from converter import api
    from converter.pipelines.convert import convert

    loaded = api.load(forms["python"])
    result = convert(lambda: loaded, target, tmp_path / f"model.{target}", samples=2)
    assert result and result.report.verdict == "passed"
    assert {s.sizes["batch"] for s in result.report.samples} == {2, 3}


@pytest.mark.slow
def test_a_layer_that_fails_is_named_in_one_line():
    pytest.importorskip("tensorflow")
    from converter import api

    with pytest.raises(GraphtoolError) as caught:
        api.load(f"{MODELS}:failing_layer")
    message = str(caught.value)
    assert "\n" not in message
    assert "Keras layer NineFeatures failed: expected 9 features, got 7 (it got args=" in message
