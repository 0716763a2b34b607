"""What tf2onnx cannot convert on its own: Erfc, and functions Keras marks for XLA compilation."""

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


def custom_op_handlers() -> dict:
    """tf2onnx's handlers for the ops it lacks; a new dict each call, since tf2onnx adds to the one it gets."""
    return {"Erfc": (_erfc, [])}


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
