"""Speed work on big graphs keeps results: inspect's lighter load, graph views freed without the collector."""

from __future__ import annotations

import gc

import networkx as nx
import onnx
from graph_models import base_model, layered_model, rename_all
from onnx import TensorProto, helper

from converter import api
from converter.graphs.summary import summarize


def _untyped_output(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with its output's type and shape left for inference to find."""
    untyped = onnx.ModelProto()
    untyped.CopyFrom(model)
    name = untyped.graph.output[0].name
    del untyped.graph.output[:]
    untyped.graph.output.append(helper.make_empty_tensor_value_info(name))
    return untyped


def test_inspect_infers_no_intermediate_shapes_when_outputs_are_typed():
    model = base_model()
    full, light = api.load(model), api.load(model, value_shapes=False)
    assert len(full.model.graph.value_info) > 0
    assert len(light.model.graph.value_info) == 0  # inference skipped: it would add only these
    assert summarize(light).to_dict() == summarize(full).to_dict() == api.inspect(model).to_dict()


def test_inspect_still_infers_an_output_the_model_leaves_untyped():
    model = _untyped_output(base_model())
    summary = api.inspect(model)
    assert [(s.name, tuple(s.dims), s.dtype) for s in summary.outputs] == [("y", (1, 10), "float32")]
    assert summary.to_dict() == summarize(api.load(model)).to_dict()


def test_untyped_output_model_really_lacks_the_shape():
    output = _untyped_output(base_model()).graph.output[0]
    assert output.type.tensor_type.elem_type == TensorProto.UNDEFINED


def test_diff_leaves_no_graph_view_for_the_collector():
    a = layered_model(600)
    b = rename_all(layered_model(600, edit_every=5), seed=1)
    gc.collect()
    gc.disable()  # what is left now can only be freed by the collector, never by reference counting
    try:
        result = api.diff(a, b)
        alive = [o for o in gc.get_objects() if isinstance(o, nx.MultiDiGraph) and o.number_of_nodes()]
    finally:
        gc.enable()
    assert not alive
    assert result.diff.changes and len(result.diff.renames) > 100  # the views were used before being emptied
    assert gc.isenabled()
