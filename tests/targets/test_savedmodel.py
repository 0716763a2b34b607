"""SavedModel target: signature named after the ONNX values, round trip through tf.saved_model.load, atomic writes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

tf = pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")

from converter.core.errors import GraphtoolError  # noqa: E402
from converter.core.runners import ort_runner  # noqa: E402
from converter.targets.savedmodel import SIGNATURE_KEY, write_savedmodel  # noqa: E402

pytestmark = pytest.mark.slow


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "weight")
    nodes = [
        helper.make_node("Conv", ["pixels:0", "weight"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["features out"]),
        helper.make_node("ReduceMean", ["features out"], ["pooled"], axes=[2, 3], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("pixels:0", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [
            helper.make_tensor_value_info("features out", TensorProto.FLOAT, ["batch", 4, 8, 8]),
            helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", 4]),
        ],
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_round_trip_calls_serving_default_by_name(tmp_path):
    model = _model()
    result = write_savedmodel(model, tmp_path / "saved")
    assert result.inputs == {"pixels:0": "pixels_0"}
    assert result.outputs == {"features out": "features_out", "pooled": "pooled"}
    assert result.renamed == {"pixels:0": "pixels_0", "features out": "features_out"}
    assert result.variables == 1
    assert result.transposes == 2

    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    serving = loaded.signatures[SIGNATURE_KEY]
    _, inputs = serving.structured_input_signature
    assert list(inputs) == ["pixels_0"]
    assert inputs["pixels_0"].shape.as_list() == [None, 3, 8, 8]
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    got = serving(pixels_0=tf.constant(x))
    want = ort_runner(model)({"pixels:0": x})
    np.testing.assert_allclose(got["features_out"].numpy(), want[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["pooled"].numpy(), want[1], rtol=1e-4, atol=1e-5)
    assert len(serving.variables) == 1  # the weight is a variable, not a graph constant


def test_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "saved"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(GraphtoolError, match="already exists"):
        write_savedmodel(_model(), target)
    assert (target / "keep.txt").read_text() == "mine"
    write_savedmodel(_model(), target, force=True)
    assert (target / "saved_model.pb").exists()
    assert not (target / "keep.txt").exists()


def test_unsupported_model_writes_nothing(tmp_path):
    node = helper.make_node("Mystery", ["x"], ["y"], name="mystery_node", domain="com.example")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    with pytest.raises(GraphtoolError, match="mystery_node"):
        write_savedmodel(model, tmp_path / "saved")
    assert list(tmp_path.iterdir()) == []


def test_model_failing_the_checker_is_refused(tmp_path):
    model = _model()
    model.graph.node[1].input[0] = "missing value"
    with pytest.raises(GraphtoolError, match="checker"):
        write_savedmodel(model, tmp_path / "saved")
    assert list(tmp_path.iterdir()) == []
