"""A tf.Module whose tf.function runs tf.while_loops and tf.cond, to TorchScript and pt2: the conversion ends."""

from __future__ import annotations

import pytest

from converter.core.types import LoadOptions
from converter.pipelines import convert as pipeline

pytestmark = pytest.mark.slow
ENDS_WITHIN_S = 60  # --timeout for loading and writing: a conversion that loops forever fails the test


def _save(tmp_path_factory, name: str, body):
    tf = pytest.importorskip("tensorflow")
    module = tf.Module()
    module.__call__ = tf.function(body, input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    path = tmp_path_factory.mktemp("loops") / name
    tf.saved_model.save(module, str(path))
    return path


def _loops_and_cond(x):
    """x = x * 0.5 + 1 five times; then halve while max(x) > 1 (trips depend on the data); then a tf.cond."""
    import tensorflow as tf

    _, x = tf.while_loop(lambda i, x: i < 5, lambda i, x: (i + 1, x * 0.5 + 1.0), (tf.constant(0), x))
    (x,) = tf.while_loop(lambda x: tf.reduce_max(x) > 1.0, lambda x: (x / 2.0,), (x,))
    return tf.cond(tf.reduce_sum(x) > 0, lambda: x + 1.0, lambda: x - 1.0)


def _tiled_by_the_counter(x):
    """A body that tiles by the loop counter: a shape from a tensor, so the TorchScript is traced around the loop
    (which never ended: the loop's first arguments were fed to it again on every trip)."""
    import tensorflow as tf

    def trip(i, x):
        return i + 1, x * 0.9 + tf.reduce_mean(tf.tile(x, [1, i + 1]), axis=1, keepdims=True)

    _, x = tf.while_loop(lambda i, x: i < 3, trip, (tf.constant(0), x))
    return x


@pytest.fixture(scope="module", params=[_loops_and_cond, _tiled_by_the_counter])
def looping_savedmodel(request, tmp_path_factory):
    return _save(tmp_path_factory, request.param.__name__.strip("_"), request.param)


@pytest.mark.parametrize(("target", "suffix"), [("torchscript", ".ts"), ("pt2", ".pt2")])
def test_a_tf_while_loop_converts_and_validates_at_several_batch_sizes(looping_savedmodel, tmp_path, target,
                                                                      suffix):
    result = pipeline.convert_source(looping_savedmodel, target, tmp_path / f"looping{suffix}",
                                     LoadOptions(timeout=ENDS_WITHIN_S))
    assert result, result.report.to_dict()
    batches = {feed.shape[0] for sample in result.report.samples for feed in sample.feeds.values()}
    assert len(batches) >= 2, batches  # batch 1, 2 and 3 among the samples
    assert (tmp_path / f"looping{suffix}").exists()
