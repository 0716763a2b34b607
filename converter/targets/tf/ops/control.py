"""Control flow: If -> tf.cond, Loop and Scan -> tf.while_loop (subgraphs converted in the enclosing scope)."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.dtypes import tf_dtype
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops
from converter.targets.tf.static import static

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
    dtypes = (
        _scan_dtypes(node, body, scan_specs, [tf.constant(0, tf.int64), keep_going, *carried]) if scan_specs else []
    )
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

    invariants = (tf.TensorShape([]), tf.TensorShape([]), *[_relaxed(v) for v in carried + arrays])
    result = tf.while_loop(
        test, step, (tf.constant(0, tf.int64), keep_going, *carried, *arrays), shape_invariants=invariants
    )
    finals = list(result[2 : 2 + len(carried)])
    return finals + [a.stack() for a in result[2 + len(carried) :]]


def _relaxed(value) -> tf.TensorShape:
    """A loop variable's shape invariant: its rank is kept, its dimensions may change."""
    shape = getattr(value, "shape", None)
    if isinstance(value, tf.TensorArray) or shape is None or shape.rank is None:
        return tf.TensorShape(None)
    return tf.TensorShape([None] * shape.rank)


def _scan_dtypes(node: Node, body, specs, probe_inputs):
    dtypes = [tf_dtype(s.type.tensor_type.elem_type) for s in specs]
    if None in dtypes:
        # The body does not declare its outputs' types: trace it once to learn them.
        outputs = node.run_graph(body, probe_inputs)[-len(specs) :]
        dtypes = [tf.convert_to_tensor(v).dtype for v in outputs]
    return dtypes


@tf_ops.register("Scan", since=9)
def scan(node: Node, *values):
    body = node.attr("body")
    m = node.attr("num_scan_inputs")
    states = [tf.convert_to_tensor(v) for v in values[: len(values) - m]]
    sequences = []
    in_axes = node.attr("scan_input_axes", [0] * m)
    in_dirs = node.attr("scan_input_directions", [0] * m)
    for value, axis, direction in zip(values[len(states) :], in_axes, in_dirs, strict=True):
        value = tf.convert_to_tensor(value)
        moved = tf.experimental.numpy.moveaxis(value, axis % len(value.shape), 0)
        sequences.append(tf.reverse(moved, [0]) if direction else moved)
    specs = body.output[len(states) :]
    dtypes = _scan_dtypes(node, body, specs, [*states, *[s[0] for s in sequences]])
    arrays = [tf.TensorArray(d, size=0, dynamic_size=True, infer_shape=False) for d in dtypes]
    steps = tf.shape(sequences[0])[0]

    def step(i, *state):
        carried, outs = list(state[: len(states)]), list(state[len(states) :])
        results = node.run_graph(body, [*carried, *[s[i] for s in sequences]])
        new = [tf.cast(r, c.dtype) for r, c in zip(results[: len(carried)], carried, strict=True)]
        outs = [a.write(i, r) for a, r in zip(outs, results[len(carried) :], strict=True)]
        return (i + 1, *new, *outs)

    invariants = (tf.TensorShape([]), *[_relaxed(v) for v in states + arrays])
    result = tf.while_loop(lambda i, *_: i < steps, step, (0, *states, *arrays), shape_invariants=invariants)
    finals = list(result[1 : 1 + len(states)])
    out_axes = node.attr("scan_output_axes", [0] * len(arrays))
    out_dirs = node.attr("scan_output_directions", [0] * len(arrays))
    stacked = []
    for array, axis, direction in zip(result[1 + len(states) :], out_axes, out_dirs, strict=True):
        value = array.stack()
        value = tf.reverse(value, [0]) if direction else value
        stacked.append(tf.experimental.numpy.moveaxis(value, 0, axis % len(value.shape)) if axis else value)
    return finals + stacked
