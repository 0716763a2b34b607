"""Constants by role: which inputs of an op configure it (axes, shapes, pads, indices) rather than carry its data,
and when two such configurations mean the same.

An input's role comes from the op schema that consumes it (``onnx.defs``): its formal name, looked up in a short
table of attribute-like names. A constant read only at attribute-like inputs is an ``attribute`` of its op, a
float constant read as data is a ``weight``, and any other (an integer read as data: a shape piece, a mask) is a
``constant``; diff compares weights as tensors and the others as part of the op that reads them.
"""

from __future__ import annotations

import functools
from typing import Any

import onnx

__all__ = ["ROLES", "input_name", "is_attribute_input", "constant_role", "same_setting", "irrelevant_attributes"]

ROLES = ("weight", "attribute", "constant")

# Formal input names that configure an op in every ONNX op that has them (most were attributes in older opsets).
_ATTRIBUTE_NAMES = frozenset({
    "axes", "axis", "shape", "pads", "constant_value", "starts", "ends", "steps", "repeats", "roi", "scales",
    "sizes", "K", "k", "split", "indices", "start", "limit", "delta", "depth", "min", "max", "dft_length",
    "max_output_boxes_per_class", "iou_threshold", "score_threshold",
})
# Ops whose every input configures them, whatever it is called.
_ATTRIBUTE_OPS = frozenset({("", "ConstantOfShape"), ("", "Range")})
# Axes that name a set of dimensions (order means nothing), and where a negative axis counts from.
_AXIS_SETS = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "Squeeze", "Unsqueeze"}
_AXIS_LISTS = {"Slice", "Pad"}
_FLOATS = frozenset({"float16", "float32", "float64", "bfloat16"})


@functools.lru_cache(maxsize=4096)
def input_name(op_type: str, domain: str, version: int, slot: int) -> str | None:
    """The schema's name for an op's input slot (a variadic input's name for every slot it covers), or None."""
    try:
        schema = onnx.defs.get_schema(op_type, version or onnx.defs.onnx_opset_version(), domain)
    except onnx.defs.SchemaError:
        return None
    inputs = schema.inputs
    if slot < len(inputs):
        return inputs[slot].name
    if inputs and inputs[-1].option == onnx.defs.OpSchema.FormalParameterOption.Variadic:
        return inputs[-1].name
    return None


@functools.lru_cache(maxsize=4096)
def is_attribute_input(op_type: str, domain: str, version: int, slot: int) -> bool:
    """Whether a constant at this input configures the op (an attribute in all but name), per its schema."""
    if (domain, op_type) in _ATTRIBUTE_OPS:
        return True
    name = input_name(op_type, domain, version, slot)
    return name in _ATTRIBUTE_NAMES


def constant_role(dtype: str | None, uses: set[bool]) -> str:
    """A constant's role from its dtype and whether each of its uses is attribute-like (unused: a weight)."""
    if uses == {True}:
        return "attribute"
    return "weight" if dtype in _FLOATS or not uses else "constant"


def same_setting(op_type: str, name: str, old: Any, new: Any, ranks: tuple[int | None, int | None]) -> bool:
    """Whether two values of an attribute-like setting mean the same for an op whose data input has these ranks
    on each side: axes counted from the end or from the start, a set of axes in any order. Axes that a layout
    change moved (NCHW's [2, 3] as NHWC's [1, 2]) are another setting: the op's input is another tensor."""
    if old == new:
        return True
    if name != "axes" or op_type not in _AXIS_SETS | _AXIS_LISTS or not (
            isinstance(old, list) and isinstance(new, list)) or ranks[0] != ranks[1]:
        return False
    if any(not isinstance(axis, int) for axis in (*old, *new)):
        return False
    rank = ranks[0]
    if rank is not None:
        rank += len(old) if op_type == "Unsqueeze" else 0  # its axes index the output
        old, new = [axis % rank for axis in old], [axis % rank for axis in new]
    elif any(axis < 0 for axis in (*old, *new)):
        return False
    return sorted(old) == sorted(new) if op_type in _AXIS_SETS else old == new


def irrelevant_attributes(op_type: str, settings_a: dict[str, Any], settings_b: dict[str, Any]) -> set[str]:
    """Attributes whose value cannot matter here: `noop_with_empty_axes` when both sides name axes, Reshape's
    `allowzero` when neither shape has a 0. `settings_*`: each side's attributes and attribute-like constant inputs."""
    irrelevant = set()
    if settings_a.get("axes") and settings_b.get("axes"):
        irrelevant.add("noop_with_empty_axes")
    if op_type == "Reshape" and all(isinstance(s.get("shape"), list) and 0 not in s["shape"]
                                    for s in (settings_a, settings_b)):
        irrelevant.add("allowzero")
    return irrelevant
