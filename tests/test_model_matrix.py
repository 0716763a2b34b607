"""The coverage matrix: models nobody here wrote, each through inspect, three targets, validate and diff."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("transformers")

from matrix_models import CASES, case_id, max_errors, source_of, variant  # noqa: E402

from converter import api  # noqa: E402
from converter.core.errors import GraphtoolError  # noqa: E402
from converter.core.types import LoadOptions  # noqa: E402
from converter.graphs.summary import summarize  # noqa: E402
from converter.pipelines.convert import convert  # noqa: E402
from converter.validation.engine import validate  # noqa: E402
from converter.validation.tolerance import Tolerances  # noqa: E402

# Output names every target keeps (ModelOutput keys, cache layers, a dict's keys, Keras layer names).
OUTPUTS = {
    "bert": ["last_hidden_state", "pooler_output"],
    "gpt2": ["last_hidden_state", "present.0.key", "present.0.value", "present.1.key", "present.1.value"],
    "gpt2_no_cache": ["last_hidden_state"],
    "dict_io": ["logits", "parts_0", "parts_1"],
    "two_in_two_out": ["score", "predictions"],
    "keras_hub_bert": ["pooled_output", "sequence_output"],
    "clip": ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds",
             "text_model_output.last_hidden_state", "text_model_output.pooler_output",
             "vision_model_output.last_hidden_state", "vision_model_output.pooler_output"],
    "llama_with_cache": ["logits", "present.0.key", "present.0.value", "present.1.key", "present.1.value"],
    "mamba": ["logits", "present.0.conv", "present.0.recurrent", "present.1.conv", "present.1.recurrent"],
}
SAMPLES = 2  # the traced inputs, one resized sample, and the negated, scaled and zeroed exercises


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_model_converts_or_says_why(case, tmp_path):
    source = source_of(case, tmp_path)
    options = LoadOptions(input_specs=case.specs, inputs_file=_ones(case, tmp_path))
    if "load" in case.refused:
        with pytest.raises(GraphtoolError) as caught:
            api.load(source, options)
        _check_refusal(case.refused["load"], str(caught.value))
        return
    loaded = api.load(source, options)
    summary = summarize(loaded).to_dict()
    assert [i["name"] for i in summary["inputs"]] == [i.name for i in loaded.model.graph.input]
    if case.name in OUTPUTS:
        assert [o.name for o in loaded.model.graph.output] == OUTPUTS[case.name]
    if case.name == "bert":  # only what was given is traced; inspect says which arguments kept their defaults
        assert [i["name"] for i in summary["inputs"]] == ["input_ids"]
        assert any("kept the default of attention_mask, token_type_ids" in n for n in summary["source"]["notes"])

    tolerances = Tolerances(allow_inconclusive=case.inconclusive is not None)
    for target in case.targets:
        path = tmp_path / f"model.{target}"
        if target in case.refused:
            with pytest.raises(GraphtoolError) as caught:
                convert(lambda: loaded, target, path, samples=SAMPLES)
            _check_refusal(case.refused[target], str(caught.value))
            assert not path.exists()
            continue
        result = convert(lambda: loaded, target, path, samples=SAMPLES, tolerances=tolerances)
        if target in case.mismatched:  # a known gap: caught by validation (exit 1), nothing written
            problems = [p for d in result.report.devices for o in d.outputs for p in o.problems]
            assert not result and not path.exists() and any(case.mismatched[target] in p for p in problems)
            continue
        assert result, f"{target}: {result.to_dict()['validation']}"
        assert path.exists() and max_errors(result) < 1e-2
        _check_inconclusive(case, result.report)

    report = validate(loaded, samples=SAMPLES, tolerances=tolerances)
    _check_inconclusive(case, report)
    if case.batch:
        assert len({s.sizes.get(case.batch) for s in report.samples}) >= 2, [s.label for s in report.samples]
    floats = any(array.dtype.kind == "f" for array in loaded.example_inputs.values())
    exercised = {"negated", "scaled", "zeros"} if floats else set()  # token ids are not negated or scaled
    assert report and {s.kind for s in report.samples} == {"traced", "seeded", *exercised}

    assert not api.diff(loaded.model, loaded.model.__deepcopy__({})).diff.to_dict()["summary"].get("weights_changed")
    changed = api.diff(loaded.model, variant(loaded.model))
    assert not changed and changed.diff.to_dict()["summary"]["weights_changed"] == 1


def _check_refusal(expected, message: str) -> None:
    """One line that holds each expected text."""
    texts = (expected,) if isinstance(expected, str) else expected
    assert all(text in message for text in texts) and "\n" not in message, message


def _ones(case, folder):
    """The case's --inputs file of all-ones ids, or None."""
    if not case.ones:
        return None
    np.savez(folder / "ones.npz", **{name: np.ones(shape, np.int64) for name, shape in case.ones.items()})
    return folder / "ones.npz"


def _check_inconclusive(case, report) -> None:
    """A case whose random weights leave the check unable to tell is INCONCLUSIVE, never PASSED."""
    if case.inconclusive is None:
        assert report.verdict == "passed", report.verdict_line
    else:
        assert report.verdict == "inconclusive" and case.inconclusive in report.verdict_line
