"""What the capture does to the exporter's graph before it optimizes it, and what it lets go of after."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from converter.core import external_data
from converter.core.types import LoadOptions
from converter.sources import load
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


def _loaded_mlp() -> tuple:
    """A seeded torch MLP loaded (exported to ONNX) with nothing else holding it, and a weakref to one weight."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)).eval()
    return load((module, (torch.randn(2, 16),)), LoadOptions()), weakref.ref(module[0].weight)


@pytest.mark.parametrize("threshold", ["0", None])  # weights saved to a scratch folder (as past 1 GiB), and inline
def test_once_exported_only_the_reference_holds_the_module_weights(monkeypatch, threshold):
    """onnxscript's rewrite rules keep their last match alive, and the exporter's graph wrapped the torch tensors."""
    if threshold is not None:
        monkeypatch.setenv(external_data.THRESHOLD_ENV, threshold)
    loaded, weight = _loaded_mlp()
    gc.collect()
    assert weight() is not None  # the reference runs the module
    loaded.reference = None
    gc.collect()
    assert weight() is None
    assert loaded.model.graph.initializer  # the ONNX keeps its own weights
