"""The ops tf2onnx lacks convert through graphtool's handlers and compute what TensorFlow computes."""

from __future__ import annotations

import numpy as np
import pytest
from sources_helpers import assert_agrees

from converter import api
from converter.core.types import LoadOptions


def _broadcast_module(s0_spec, s1_spec, shapes):
    """A tf.Module whose function returns tf.raw_ops.BroadcastArgs of the shape vectors `shapes` makes."""
    import tensorflow as tf

    class Broadcast(tf.Module):
        @tf.function(input_signature=[s0_spec, s1_spec])
        def __call__(self, a, b):
            return tf.raw_ops.BroadcastArgs(s0=shapes(a), s1=shapes(b))

    return Broadcast()


@pytest.mark.slow
@pytest.mark.parametrize("out_type", ["int32", "int64"])
def test_broadcast_args_of_static_ranks_pads_the_shorter_shape_and_allocates_nothing(out_type):
    import tensorflow as tf

    x, y = tf.TensorSpec([None, None, 3], tf.float32, name="x"), tf.TensorSpec([None, 1], tf.float32, name="y")
    module = _broadcast_module(x, y, lambda t: tf.shape(t, out_type=out_type))
    loaded = api.load(module)
    ops = [n.op_type for n in loaded.model.graph.node]
    assert "Where" in ops and "Expand" not in ops
    rng = np.random.default_rng(0)
    for x_shape, y_shape in [((2, 4, 3), (4, 1)), ((3, 1, 3), (6, 1))]:
        feeds = {"x": rng.standard_normal(x_shape, np.float32), "y": rng.standard_normal(y_shape, np.float32)}
        assert_agrees(loaded, feeds)


@pytest.mark.slow
def test_broadcast_args_of_unknown_ranks_expands_a_scalar():
    import tensorflow as tf

    s0, s1 = tf.TensorSpec([None], tf.int32, name="s0"), tf.TensorSpec([None], tf.int32, name="s1")
    ranks = LoadOptions(input_specs=("s0:rank0:int32", "s1:rank1:int32"))
    loaded = api.load(_broadcast_module(s0, s1, lambda s: s), ranks)
    assert "Expand" in [n.op_type for n in loaded.model.graph.node]
    for a, b in [([2, 1, 3], [4, 1]), ([5], [1, 6, 1])]:
        assert_agrees(loaded, {"s0": np.array(a, np.int32), "s1": np.array(b, np.int32)})
