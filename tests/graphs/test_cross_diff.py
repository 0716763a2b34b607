"""Diff across frameworks after a validated conversion: like paired with like, no weight reported changed."""

from __future__ import annotations

import pytest
from conftest import TF_DIR, TORCH_DIR

from converter import api
from converter.graphs.diff import diff_graphs
from converter.graphs.graph import to_graph

CASES = [
    (TORCH_DIR / "cnn.pt2", "savedmodel", "cnn_savedmodel"),
    (TORCH_DIR / "mlp.pt2", "savedmodel", "mlp_savedmodel"),
    (TF_DIR / "keras_cnn.keras", "pt2", "keras_cnn.pt2"),
    (TF_DIR / "keras_two_io.keras", "pt2", "keras_two_io.pt2"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("source", "target", "artifact"), CASES, ids=[c[2] for c in CASES])
def test_source_and_its_validated_conversion_pair_like_with_like(tmp_path, source, target, artifact):
    converted = api.convert(source, target, tmp_path / artifact, samples=1)
    assert converted, "the conversion must validate for this test to mean anything"
    ga, gb = to_graph(api.load(source).model), to_graph(api.load(tmp_path / artifact).model)
    diff = diff_graphs(ga, gb)
    assert diff.summary["weights_changed"] == 0, [c for c in diff.changes if c.kind == "weight_changed"]
    for node_a, node_b in diff.matches:
        da, db = ga.nodes[node_a], gb.nodes[node_b]
        if da["kind"] == "initializer":
            assert (da["dtype"], da["size"]) == (db["dtype"], db["size"]), (da["name"], db["name"])
    for change in diff.changes:
        if change.kind == "weight_transposed":  # the same values, really in another layout
            a, b = ga.nodes[change.a.id], gb.nodes[change.b.id]
            assert a["size"] == b["size"] and sorted(a["shape"]) == sorted(b["shape"])


# Test-matrix models (tests/matrix_models.py) cheap enough to convert twice, and a ResNet whose global average
# pooling is a ReduceMean with constant axes (NCHW's [-1, -2] in its ONNX, [3, 2] after tf2onnx). whisper_encoder's
# pt2 has weights named like the exporter's own values (val_N), which torch.onnx once refused to read back.
MATRIX = [(name, target) for name in ("resnet_like", "two_in_two_out", "mobilenet_v3", "lstm", "gru", "keras_lstm")
          for target in ("savedmodel", "pt2")]
MATRIX += [("whisper_encoder", "pt2")]
# A real difference, not a diff's fault: an LSTM or GRU op written to TF as a while loop comes back from tf2onnx as
# a Loop of MatMul, Sigmoid and Tanh (tf2onnx fuses only Keras' own loop patterns), so little beyond the weights
# pairs up. Their weights must still all pair, none changed.
UNFUSED = {("lstm", "savedmodel"), ("gru", "savedmodel"), ("keras_lstm", "savedmodel")}


@pytest.fixture(scope="module")
def matrix_onnx(tmp_path_factory):
    """The ONNX of a matrix model, converted (and validated) once for both targets."""
    import matrix_models

    from converter.core.types import LoadOptions

    made = {}

    def onnx_of(name: str):
        if name not in made:
            folder = tmp_path_factory.mktemp(name)
            specs = next((c.specs for c in matrix_models.CASES if c.name == name), ())
            converted = api.convert(f"{matrix_models.__file__}:{name}", "onnx", folder / f"{name}.onnx",
                                    LoadOptions(input_specs=specs), samples=1)
            assert converted, converted
            made[name] = folder / f"{name}.onnx"
        return made[name]

    return onnx_of


@pytest.mark.slow
@pytest.mark.parametrize(("name", "target"), MATRIX, ids=["-".join(case) for case in MATRIX])
def test_onnx_against_its_validated_conversion_changes_no_weight(tmp_path, matrix_onnx, name, target):
    """Issue 24: axes, shapes and other settings that a converter rewrites are never reported as weights."""
    source = matrix_onnx(name)
    artifact = tmp_path / ("model.pt2" if target == "pt2" else "model_savedmodel")
    converted = api.convert(source, target, artifact, samples=1)
    assert converted, "the conversion must validate for this test to mean anything"
    diff = api.diff(source, artifact).diff
    assert diff.summary["weights_changed"] == 0, [c.to_dict() for c in diff.changes if c.kind == "weight_changed"]
    assert diff.common_structure != ((name, target) in UNFUSED), diff.summary
    if name == "resnet_like":  # its pooling's axes [-1, -2] are tf2onnx's [3, 2]: the same op, no change at all
        assert diff.summary["changed"] == 0, [c.to_dict() for c in diff.changes if c.kind == "changed"]


def test_a_transposed_weight_is_reported_as_transposed():
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.arange(12, dtype=np.float32).reshape(3, 4)

    def model(producer: str, transposed: bool) -> onnx.ModelProto:
        w = numpy_helper.from_array(weight.T.copy() if transposed else weight, "w")
        node = (helper.make_node("MatMul", ["x", "w"], ["y"], name="mm") if transposed
                else helper.make_node("Gemm", ["x", "w"], ["y"], name="mm", transB=1))
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [w])
        return helper.make_model(graph, producer_name=producer, opset_imports=[helper.make_opsetid("", 18)])

    diff = diff_graphs(to_graph(model("pytorch", False)), to_graph(model("tf2onnx", True)))
    assert diff.summary["weights_transposed"] == 1 and diff.summary["weights_changed"] == 0
    (change,) = [c for c in diff.changes if c.kind == "weight_transposed"]
    assert change.fields[0].field == "layout" and "transpose [1, 0]" in change.fields[0].new


def test_a_weight_rearranged_into_another_shape_is_a_layout_change_but_not_in_the_same_shape():
    """An LSTM's [1, 4*hidden, input] weight becomes a MatMul's [input, 4*hidden] with its gates reordered: the
    same values in another layout. The same shape with values moved (two channels swapped) is a real edit."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = np.arange(1, 13, dtype=np.float32).reshape(1, 6, 2)

    def model(w: np.ndarray):
        node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  [numpy_helper.from_array(w, "w")])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])

    gates_reordered = np.concatenate([weight[0, 3:], weight[0, :3]]).T.copy()  # [2, 6], not a transpose of [6, 2]
    diff = diff_graphs(to_graph(model(weight)), to_graph(model(gates_reordered)))
    assert diff.summary["weights_transposed"] == 1 and diff.summary["weights_changed"] == 0
    swapped = weight[:, [1, 0, 2, 3, 4, 5]].copy()
    diff = diff_graphs(to_graph(model(weight)), to_graph(model(swapped)))
    assert diff.summary["weights_changed"] == 1 and diff.summary["weights_transposed"] == 0
