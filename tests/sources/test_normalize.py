"""The normal form: names, renames through subgraphs, scopes, shapes, opset."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from converter.core.output_names import OUTPUT_NAMES_KEY, recorded_output_names, source_output_names
from converter.core.scopes import node_scope, node_source
from converter.sources.normalize import normalize, rename_values


def _model(nodes, inputs=("x",), outputs=("y",), opset=18):
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 4]) for n in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_nodes_get_unique_stable_names():
    model = _model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"], name="n"),
                    helper.make_node("Relu", ["b"], ["y"], name="n")])
    names = [n.name for n in normalize(model).graph.node]
    assert names == ["Relu_0", "n", "n_1"]
    assert names == [n.name for n in normalize(_model([*model.graph.node])).graph.node]


def test_inputs_and_outputs_renamed_everywhere():
    model = _model([helper.make_node("Relu", ["input.1"], ["out"])], inputs=("input.1",), outputs=("out",))
    result = normalize(model, input_names=["image"], output_names=["logits"])
    assert [i.name for i in result.graph.input] == ["image"]
    assert [o.name for o in result.graph.output] == ["logits"]
    assert list(result.graph.node[0].input) == ["image"]


def test_rename_reaches_subgraphs_and_avoids_collisions():
    branch = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    model = _model([helper.make_node("ReduceSum", ["x"], ["c0"]), helper.make_node("Cast", ["c0"], ["c"], to=9),
                    helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=other)])
    rename_values(model, {"x": "features", "c": "y"})
    then_node = model.graph.node[2].attribute[0].g.node[0]
    assert list(then_node.input) == ["features"]
    assert list(model.graph.node[2].input) == ["y_1"]  # 'y' is taken by the graph output


def test_an_output_named_like_an_input_keeps_a_suffix_and_its_source_name():
    model = _model([helper.make_node("Relu", ["input.1"], ["out"])], inputs=("input.1",), outputs=("out",))
    result = normalize(model, input_names=["sample"], output_names=["sample"])
    assert [o.name for o in result.graph.output] == ["sample_1"]
    assert recorded_output_names(result) == {"sample_1": "sample"}
    assert source_output_names(result) == ["sample"]
    rename_values(result, {"sample_1": "denoised"})  # the record follows its output
    assert source_output_names(result) == ["sample"] and recorded_output_names(result) == {"denoised": "sample"}


def test_an_intermediate_value_gives_up_an_output_name():
    # torch.export names a value after its op (`embedding`); the source's output of that name takes it
    model = _model([helper.make_node("Relu", ["x"], ["embedding"]), helper.make_node("Neg", ["embedding"], ["out"])],
                   outputs=("out",))
    result = normalize(model, output_names=["embedding"])
    assert [o.name for o in result.graph.output] == ["embedding"]
    assert list(result.graph.node[1].input) == ["embedding_1"]
    assert recorded_output_names(result) == {}
    assert not any(p.key == OUTPUT_NAMES_KEY for p in result.metadata_props)


def test_scope_from_torch_name_scopes_and_source():
    node = helper.make_node("Gemm", ["x", "w"], ["y"], name="node_linear")
    node.metadata_props.add(key="pkg.torch.onnx.name_scopes", value="['', 'encoder', 'encoder.layers.0', 'linear']")
    node.metadata_props.add(key="pkg.torch.onnx.stack_trace",
                            value='File "model.py", line 12, in forward\n    return self.fc(x)')
    result = normalize(_model([node]))
    assert node_scope(result.graph.node[0]) == "encoder/layers.0"
    assert node_source(result.graph.node[0]) == "model.py:12"


def test_scope_from_exporter_names():
    legacy = helper.make_node("Relu", ["x"], ["a"], name="/enc/block.1/Relu")
    tf_style = helper.make_node("Relu", ["a"], ["y"], name="model/dense_1/Relu")
    result = normalize(_model([legacy, tf_style]))
    assert [node_scope(n) for n in result.graph.node] == ["enc/block.1", "model/dense_1"]


def test_placeholder_dims_replaced_by_inferred_ones():
    model = _model([helper.make_node("Relu", ["x"], ["y"])])
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    for param in ("unk__3", "unk__4"):
        model.graph.output[0].type.tensor_type.shape.dim.add().dim_param = param
    result = normalize(model)
    dims = [d.dim_param or d.dim_value for d in result.graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["n", 4]


def test_opset_conversion():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], opset=13)
    result = normalize(model, opset=18)
    assert [o.version for o in result.opset_import if o.domain == ""] == [18]
    onnx.checker.check_model(result)
