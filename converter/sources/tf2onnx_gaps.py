"""What tf2onnx cannot convert on its own: Erfc, BroadcastArgs, and functions Keras marks for XLA compilation."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["custom_op_handlers", "xla_marked_calls", "without_xla_marks"]

# Keras' TensorFlow backend runs grouped convolutions in a tf.function(jit_compile=True); Grappler never
# inlines such a call, so tf2onnx would see an opaque StatefulPartitionedCall.
_XLA_ATTRS = ("_XlaMustCompile", "_noinline")


def _erfc(ctx: Any, node: Any, name: str, args: list) -> None:
    """erfc(x) as 1 - erf(x); Keras' exact GELU is 0.5 * x * erfc(-x / sqrt(2))."""
    from onnx import helper
    from tf2onnx import utils

    node.type = "Erf"
    dtype = helper.tensor_dtype_to_np_dtype(ctx.get_dtype(node.output[0]))
    one = ctx.make_const(utils.make_name(f"{node.name}/one"), np.array(1, dtype))
    ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(f"{node.name}/erfc"),
                                  inputs=[one.output[0], node.output[0]])


def _broadcast_args(ctx: Any, node: Any, name: str, args: list) -> None:
    """The broadcast of shapes s0 and s1 (1-D int32/int64), as TF's broadcast_dynamic_shape writes it.

    With both ranks known, pad the shorter shape with leading 1s and take, per dimension, `b if a == 1 else a`,
    which is the broadcast whenever the shapes broadcast at all; nothing of the broadcast shape is allocated.
    """
    from onnx import TensorProto, helper
    from tf2onnx import utils

    s0, s1 = node.input
    dtype = ctx.get_dtype(node.output[0])
    ranks = [_length(ctx.get_shape(s)) for s in (s0, s1)]
    if None in ranks:
        _broadcast_args_by_expanding(ctx, node, dtype)
        return
    np_dtype = helper.tensor_dtype_to_np_dtype(dtype)
    padded = []
    for shape, rank in zip((s0, s1), ranks, strict=True):
        if rank < max(ranks):
            ones = ctx.make_const(utils.make_name(f"{node.name}/ones"), np.ones(max(ranks) - rank, np_dtype))
            shape = ctx.make_node("Concat", [ones.output[0], shape], attr={"axis": 0}).output[0]
        padded.append(shape)
    a, b = padded
    one = ctx.make_const(utils.make_name(f"{node.name}/one"), np.array(1, np_dtype))
    is_one = ctx.make_node("Equal", [a, one.output[0]], dtypes=[TensorProto.BOOL]).output[0]
    node.type = "Where"
    ctx.replace_inputs(node, [is_one, b, a])


def _broadcast_args_by_expanding(ctx: Any, node: Any, dtype: int) -> None:
    """Unknown ranks: the shape of a 1-byte scalar expanded to both shapes, at the cost of allocating it."""
    from onnx import TensorProto
    from tf2onnx import utils

    scalar = ctx.make_const(utils.make_name(f"{node.name}/scalar"), np.array(0, np.uint8)).output[0]
    for shape in node.input:
        as_int64 = ctx.make_node("Cast", [shape], attr={"to": TensorProto.INT64}).output[0]
        scalar = ctx.make_node("Expand", [scalar, as_int64]).output[0]
    if dtype == TensorProto.INT64:
        node.type = "Shape"
        ctx.replace_inputs(node, [scalar])
    else:
        shape = ctx.make_node("Shape", [scalar]).output[0]
        node.type = "Cast"
        node.set_attr("to", dtype)
        ctx.replace_inputs(node, [shape])


def _length(shape: list | None) -> int | None:
    """The static length of a 1-D tensor with this shape, None when unknown."""
    return shape[0] if shape and len(shape) == 1 and shape[0] >= 0 else None


def custom_op_handlers() -> dict:
    """tf2onnx's handlers for the ops it lacks; a new dict each call, since tf2onnx adds to the one it gets."""
    return {"Erfc": (_erfc, []), "BroadcastArgs": (_broadcast_args, [])}


def xla_marked_calls(graph_def: Any) -> list[str]:
    """Names of the call nodes, in the graph and in its functions, that must be compiled by XLA."""
    nodes = [*graph_def.node, *(n for f in graph_def.library.function for n in f.node_def)]
    return [n.name for n in nodes if "_XlaMustCompile" in n.attr and n.attr["_XlaMustCompile"].b]


def without_xla_marks(graph_def: Any) -> Any:
    """A copy of `graph_def` whose calls and functions may be inlined like any other."""
    copy = type(graph_def)()
    copy.CopyFrom(graph_def)
    for node in [*copy.node, *(n for f in copy.library.function for n in f.node_def)]:
        for attr in _XLA_ATTRS:
            node.attr.pop(attr, None)
    for function in copy.library.function:
        for attr in _XLA_ATTRS:
            function.attr.pop(attr, None)
    return copy
