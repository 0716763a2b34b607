"""Control flow: If -> tf.cond, Loop -> tf.while_loop (subgraphs converted in the enclosing scope)."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.dtypes import tf_dtype
from converter.targets.tf.node import Node
from converter.targets.tf.ops.common import static
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []

_INT64_MAX = 2**63 - 1


@tf_ops.register("If")
def if_(node: Node, condition):
    then_graph, else_graph = node.attr("then_branch"), node.attr("else_branch")
    known = static(condition)
    if known is not None:
        return node.run_graph(then_graph if bool(known.reshape(-1)[0]) else else_graph, [])
    taken = tf.reshape(tf.cast(condition, tf.bool), [])
    outputs = tf.cond(
        taken,
        lambda: [tf.convert_to_tensor(v) for v in node.run_graph(then_graph, [])],
        lambda: [tf.convert_to_tensor(v) for v in node.run_graph(else_graph, [])],
    )
    return outputs


@tf_ops.register("Loop")
def loop(node: Node, trip_count=None, condition=None, *initial):
    body = node.attr("body")
    carried = [tf.convert_to_tensor(v) for v in initial]
    scan_specs = body.output[1 + len(carried) :]
    limit = tf.constant(_INT64_MAX, tf.int64) if trip_count is None else tf.reshape(tf.cast(trip_count, tf.int64), [])
    keep_going = tf.constant(True) if condition is None else tf.reshape(tf.cast(condition, tf.bool), [])
    dtypes = [tf_dtype(s.type.tensor_type.elem_type) for s in scan_specs]
    if None in dtypes:
        # The body does not declare its scan outputs' types: trace it once to learn them.
        probe = node.run_graph(body, [tf.constant(0, tf.int64), keep_going, *carried])[1 + len(carried) :]
        dtypes = [tf.convert_to_tensor(v).dtype for v in probe]
    arrays = [tf.TensorArray(d, size=0, dynamic_size=True, infer_shape=False) for d in dtypes]

    def test(i, going, *state):
        return tf.logical_and(i < limit, going)

    def step(i, going, *state):
        values, scans = list(state[: len(carried)]), list(state[len(carried) :])
        outputs = node.run_graph(body, [i, going, *values])
        going = tf.reshape(tf.cast(outputs[0], tf.bool), [])
        new_values = [tf.cast(o, v.dtype) for o, v in zip(outputs[1 : 1 + len(values)], values, strict=True)]
        scans = [a.write(tf.cast(i, tf.int32), o) for a, o in zip(scans, outputs[1 + len(values) :], strict=True)]
        return (i + 1, going, *new_values, *scans)

    invariants = (tf.TensorShape([]), tf.TensorShape([]), *[tf.TensorShape(None) for _ in carried + arrays])
    result = tf.while_loop(
        test, step, (tf.constant(0, tf.int64), keep_going, *carried, *arrays), shape_invariants=invariants
    )
    finals = list(result[2 : 2 + len(carried)])
    return finals + [a.stack() for a in result[2 + len(carried) :]]
