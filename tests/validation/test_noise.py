"""converter/validation/noise.py: the source's answers recorded up front judge as the source run live does."""

from __future__ import annotations

import numpy as np
import pytest
from validation_models import two_outputs

from converter.core.runners import Runner
from converter.core.types import LoadedModel, SourceInfo
from converter.validation.engine import compare_sides, side_of
from converter.validation.noise import record
from converter.validation.samples import Sample
from converter.validation.tolerance import Tolerances

LOADED = LoadedModel(two_outputs(), SourceInfo("m.onnx", "onnx", "onnx"))
SAMPLES = [Sample(0, {"x": np.zeros((1, 4), np.float32)}, {}, kind="zeros"),
           Sample(1, {"x": np.ones((1, 4), np.float32)}, {}, kind="seeded")]


def _source(drift: float, calls: list) -> Runner:
    """Outputs 0, 1, 2, 3 plus a tenth of the input; each call moves them by `drift` more (nondeterminism)."""

    def run(feeds):
        calls.append(float(feeds["x"].flat[0]))
        x = np.asarray(feeds["x"], np.float32)
        return [x * np.float32(0.1) + np.arange(4, dtype=np.float32) + np.float32(drift * len(calls))]

    return Runner("source", "cpu", run)


def _constant(name: str, offset: float) -> Runner:
    return Runner(name, "cpu", lambda feeds: [np.asarray(feeds["x"], np.float32) * np.float32(0.1) + np.float32(offset)
                                              + np.arange(4, dtype=np.float32)])


def _report(expected: Runner, offset: float, recorded=None) -> dict:
    noise = (_constant("first runtime", 0.0), _constant("second runtime", 1e-3))  # a floor of 1e-3
    report = compare_sides(side_of(LOADED, expected), [side_of(LOADED, _constant("artifact", offset))], SAMPLES,
                           Tolerances(), noise=noise, recorded=recorded)
    return report.to_dict()


@pytest.mark.parametrize("drift", [0.0, 1e-3])  # a deterministic source, and one that answers differently each time
@pytest.mark.parametrize("offset", [0.0, 2e-3, 1e-2])  # passes; passes against the noise floor; fails
def test_recorded_answers_give_the_verdicts_and_notes_of_the_live_source(drift, offset):
    live = _report(_source(drift, []), offset)
    calls: list = []
    recorded = record(_source(drift, calls), SAMPLES)
    freed = Runner("source", "cpu", lambda feeds: pytest.fail("the recorded source was run"))
    assert _report(freed, offset, recorded) == live
    ulp = float(np.spacing(np.float32(1)))  # of max(|x|, 1)
    assert calls == [0.0, 1.0, 0.0, ulp, 1.0, 1.0 + ulp]  # as validation asks: each sample, then again and nudged


def test_a_sample_the_source_failed_on_is_not_run_again():
    calls: list = []

    def run(feeds):
        calls.append(float(feeds["x"].flat[0]))
        if feeds["x"].flat[0] == 0:
            raise ValueError("no zeros here")
        return [feeds["x"]]

    runs = record(Runner("source", "cpu", run), SAMPLES)
    assert calls == [0.0, 1.0, 1.0, 1.0 + float(np.spacing(np.float32(1)))]  # sample 1 again and nudged only
    assert runs.outputs[0] == runs.again[0] == runs.nudged[0] == "source failed: ValueError: no zeros here"


@pytest.mark.slow
def test_an_artifact_that_fails_at_run_time_is_failed_to_run_with_tensorflow_s_node_and_reason():
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])  # shapes known only at run time
    def padded(x):
        grown = tf.pad(x, [[0, 0], [0, tf.shape(x)[0]]])  # [1, 5] from [1, 4]: a run-time shape
        return tf.reshape(grown, [4])

    artifact = Runner("tensorflow", "cpu", lambda feeds: [padded(tf.constant(feeds["x"])).numpy()])
    report = compare_sides(side_of(LOADED, _source(0.0, [])), [side_of(LOADED, artifact)], SAMPLES, Tolerances(),
                           noise=None)
    assert report.verdict == "failed-to-run"
    assert report.verdict_line == (
        "FAILED TO RUN: sample 0: tensorflow failed: InvalidArgumentError: Input to reshape is a tensor with 5 "
        "values, but the requested shape has 4 (at TensorFlow node Reshape)")
