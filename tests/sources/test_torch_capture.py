"""What the capture does to the exporter's graph before it optimizes it."""

from __future__ import annotations

import numpy as np
import pytest

from converter.sources.torch_capture import _rename_clashing_outputs


def test_node_outputs_named_like_a_weight_are_renamed_and_the_weight_keeps_its_name():
    """A pt2 converted from torch.onnx's ONNX names its weights val_N, as the exporter names its own values."""
    ir = pytest.importorskip("onnx_ir")
    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([2]))
    weight = ir.Value(name="val_1", const_value=ir.tensor(np.ones(2, np.float32), name="val_1"))
    transposed = ir.node("Neg", [weight], outputs=[ir.Value(name="val_1")])
    taken = ir.node("Neg", [x], outputs=[ir.Value(name="val_1_1")])
    added = ir.node("Add", [taken.outputs[0], transposed.outputs[0]], outputs=[ir.Value(name="y")])
    graph = ir.Graph([x], [added.outputs[0]], nodes=[transposed, taken, added], initializers=[weight])
    _rename_clashing_outputs(graph)
    assert list(graph.initializers) == ["val_1"] and graph.initializers["val_1"] is weight
    names = [o.name for node in graph for o in node.outputs]
    assert names == ["val_1_2", "val_1_1", "y"]
    assert added.inputs[1].name == "val_1_2"
