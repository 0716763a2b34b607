"""graphtool validate on quantized and half-precision ONNX: judged by their precision budget, alone and against
their float source; what the reference evaluator cannot run is said in one line."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from graph_models import conv_matmul_model
from onnx import numpy_helper

from converter import api
from converter.core.errors import GraphtoolError
from converter.core.precision import PrecisionRequest, model_precision
from converter.core.runners import reference_runner
from converter.targets.precision.onnx_half import to_half
from converter.targets.precision.onnx_int8 import to_int8

# Every variant is judged on the traced input and seeded standard-normal draws: calibrate on such draws
CALIBRATION = tuple({"x": np.random.default_rng(seed).standard_normal((1, 3, 16, 16)).astype(np.float32)}
                    for seed in range(1, 9))
VARIANTS = {"qdq": "int8", "qoperator": "int8", "dynamic": "int8-dynamic", "fp16": "fp16"}


def _qoperator(source, target) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(CALIBRATION)

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(source), str(target), Batches(), quant_format=QuantFormat.QOperator, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The float model and its QDQ, QOperator, dynamic int8 and float16 forms (opset 17), by name -> path."""
    folder = tmp_path_factory.mktemp("precision-models")
    float_model = conv_matmul_model()
    paths = {name: folder / f"{name}.onnx" for name in ("float", *VARIANTS)}
    onnx.save(float_model, paths["float"])
    onnx.save(to_int8(float_model, PrecisionRequest("int8", calibration=CALIBRATION), folder), paths["qdq"])
    onnx.save(to_int8(float_model, PrecisionRequest("int8-dynamic"), folder), paths["dynamic"])
    onnx.save(to_half(float_model, "fp16"), paths["fp16"])
    _qoperator(paths["float"], paths["qoperator"])
    return paths


@pytest.fixture(scope="module")
def bad_qdq(models, tmp_path_factory):
    """The QDQ model with conv2's weight scale 50 times too large: a broken quantization."""
    model = onnx.load(models["qdq"])
    scale = next(t for t in model.graph.initializer if t.name == "conv2.weight_scale")
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * 50, scale.name))
    path = tmp_path_factory.mktemp("bad") / "bad_qdq.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("name", ["float", *VARIANTS])
def test_model_precision_reads_ops_and_weight_types(models, name):
    assert model_precision(onnx.load(models[name])) == VARIANTS.get(name, "fp32")


def test_model_precision_of_bfloat16_weights():
    assert model_precision(to_half(conv_matmul_model(), "bf16")) == "bf16"


def test_reference_evaluator_runs_qdq_below_opset_19(models):
    model = onnx.load(models["qdq"])
    assert model.opset_import[0].version < 19
    x = CALIBRATION[0]
    expected = ort.InferenceSession(model.SerializeToString()).run(None, x)[0]
    np.testing.assert_allclose(reference_runner(model)(x)[0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["qdq", "dynamic", "fp16"])
def test_alone_passes_by_its_budget(models, name):
    report = api.validate(models[name])
    assert report.verdict == "passed", report.to_dict()["devices"]
    assert any(f"judged by the {VARIANTS[name]} budget" in note for note in report.notes), report.notes


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_against_the_float_source_passes_with_float_as_reference(models, name):
    report = api.validate(models[name], models["float"])
    assert report.verdict == "passed", report.to_dict()["devices"]
    assert str(models["float"]) in report.model and report.against == str(models[name])
    assert all(sample.kind in ("traced", "seeded") for sample in report.samples)
    assert any(f"judged by the {VARIANTS[name]} budget" in note for note in report.notes), report.notes


def test_float_source_against_the_variant_passes(models):
    assert api.validate(models["float"], models["qdq"]).verdict == "passed"


def test_fp16_with_float32_tolerances_given_is_judged_by_them(models):
    report = api.validate(models["fp16"], models["float"], tolerances=api.tolerances(rtol=1e-6, atol=1e-7))
    assert report.verdict == "failed"
    assert not any("budget" in note for note in report.notes)


def test_broken_quantization_fails_and_locate_names_its_layer(models, bad_qdq):
    report = api.validate(bad_qdq, models["float"], locate=True)
    assert report.verdict == "failed"
    located = report.located
    assert located is not None and located.node == "conv2", report.to_dict()["located"]
    weight = next(i for i in located.inputs if i.tensor.startswith("conv2.weight"))
    assert weight.kind == "weight" and weight.max_abs > 1.0


def test_broken_quantization_alone_is_no_mismatch(models, bad_qdq):
    # both runtimes compute the same (broken) graph: validate alone checks the runtimes, not the quantization
    assert api.validate(bad_qdq).verdict == "passed"


def test_qoperator_alone_is_one_line_exit_2(models, cli):
    result = cli("validate", models["qoperator"])
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "com.microsoft" in message and "--against" in message, message
    with pytest.raises(GraphtoolError, match="QLinearGlobalAveragePool"):
        api.validate(models["qoperator"])


def test_qoperator_locate_says_it_cannot_pair(models, tmp_path):
    model = onnx.load(models["qoperator"])
    scale = next(t for t in model.graph.initializer if t.name.startswith("conv2.weight_scale"))
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * 50, scale.name))
    onnx.save(model, tmp_path / "bad.onnx")
    report = api.validate(tmp_path / "bad.onnx", models["float"], locate=True)
    assert report.verdict == "failed" and report.located is None
    assert "QOperator" in report.devices[0].locate_note


def _scaled_weight(path, name: str, factor: float, folder):
    model = onnx.load(path)
    scale = next(t for t in model.graph.initializer if t.name == name)
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * factor, scale.name))
    broken = folder / f"broken_{path.name}"
    onnx.save(model, broken)
    return broken


@pytest.mark.parametrize("factor", [50.0, 1.5])
def test_a_classifier_whose_top_class_survives_a_broken_layer_still_fails(models, tmp_path, factor):
    broken = _scaled_weight(models["dynamic"], "fc2.weight_scale", factor, tmp_path)  # the logits scaled as a whole
    report = api.validate(models["float"], broken)
    output = report.devices[0].outputs[0]
    assert not report, output.to_dict()
    assert {m.name: m.passed for m in output.task}["norm"] is False


def test_validate_precision_flag_judges_by_that_budget(models, cli):
    result = cli("validate", models["float"], "--against", models["qdq"], "--precision", "int8", "--json")
    assert result.exit_code == 0, result.output
    metrics = [m["name"] for m in json.loads(result.stdout)["devices"][0]["outputs"][0]["metrics"]]
    assert metrics == ["argmax", "cosine", "norm"]
    assert cli("validate", models["float"], "--precision", "int4").exit_code == 2


def _head(last_op: str, name: str) -> onnx.ModelProto:
    """x -> Gemm -> (last_op) -> `name`, a [batch, 10] output."""
    weight = numpy_helper.from_array(np.ones((4, 10), np.float32), "w")
    nodes = [onnx.helper.make_node("Gemm", ["x", "w"], ["scores" if last_op else name])]
    if last_op:
        nodes.append(onnx.helper.make_node(last_op, ["scores"], [name]))
    graph = onnx.helper.make_graph(nodes, "head", [onnx.helper.make_tensor_value_info("x", 1, ["batch", 4])],
                                   [onnx.helper.make_tensor_value_info(name, 1, ["batch", 10])], [weight])
    return onnx.helper.make_model(graph)


@pytest.mark.parametrize(("last_op", "name", "scores"), [
    ("", "output", True), ("Softmax", "probabilities", True), ("Tanh", "output", False),
    ("", "pooler_output", False), ("Relu", "logits", True),
])
def test_class_scores_are_told_from_embeddings_of_the_same_shape(last_op, name, scores):
    from converter.core.precision import classifier_outputs
    from converter.validation.tolerance import Tolerances

    model = _head(last_op, name)
    assert (name in classifier_outputs(model)) is scores
    judged = Tolerances().with_precision("int8").for_model(model).for_output(name, "float32", (8, 10))
    assert ("argmax>=0.99" in judged.metrics) is scores
