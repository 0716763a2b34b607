"""Sequence and optional ops: sequences are Python lists of tensors, an absent optional is None."""

from __future__ import annotations

import torch

from converter.targets.torch.node import Node, is_traced
from converter.targets.torch.registry import torch_ops
from converter.targets.torch.runtime import sequence as run_sequence


@torch_ops.register("SequenceConstruct", since=11)
def sequence_construct(node: Node, *tensors):
    return node.call(run_sequence.construct, *tensors)


@torch_ops.register("SequenceEmpty", since=11)
def sequence_empty(node: Node):
    return []


@torch_ops.register("SequenceInsert", since=11)
def sequence_insert(node: Node, sequence, tensor, position=None):
    return node.call(run_sequence.insert, sequence, tensor, position)


@torch_ops.register("SequenceAt", since=11)
def sequence_at(node: Node, sequence, position):
    return node.call(run_sequence.at, sequence, position)


@torch_ops.register("SequenceErase", since=11)
def sequence_erase(node: Node, sequence, position=None):
    return node.call(run_sequence.erase, sequence, position)


@torch_ops.register("SequenceLength", since=11)
def sequence_length(node: Node, sequence):
    return node.call(run_sequence.length, sequence)


@torch_ops.register("ConcatFromSequence", since=11)
def concat_from_sequence(node: Node, sequence):
    return node.call(run_sequence.concat, sequence, node.attr("axis"), node.attr("new_axis", 0))


@torch_ops.register("SplitToSequence", since=11)
def split_to_sequence(node: Node, x, split=None):
    return node.call(run_sequence.split, x, split, node.attr("axis", 0), node.attr("keepdims", 1))


@torch_ops.register("SequenceMap", since=17)
def sequence_map(node: Node, *inputs):
    body, captured = node.submodule(node.attr("body"))
    count = sum(1 for v in inputs if isinstance(v, list) or is_traced(v))
    result = node.call(run_sequence.map_, body, captured, count, *inputs)
    return tuple(result[i] for i in range(node.num_outputs))


@torch_ops.register("Optional", since=15)
def optional(node: Node, value=None):
    return value


@torch_ops.register("OptionalGetElement", since=15)
def optional_get_element(node: Node, value):
    return value


@torch_ops.register("OptionalHasElement", since=15)
def optional_has_element(node: Node, value=None):
    if value is None:
        return torch.tensor(False)
    return torch.tensor(True)
