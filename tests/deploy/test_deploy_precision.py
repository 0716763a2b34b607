"""package, serve and validate --endpoint with int8 and half-precision models (built as convert --precision does)."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from deploy_helpers import free_port, mlp_onnx, start_graphtool_serve, stop, wait_for

from converter.core.precision import PrecisionRequest

X = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The MLP in float32, int8 (QDQ, float I/O) and float16 with float16 inputs and outputs (--io-types native)."""
    from converter.api import load
    from converter.targets.precision import build_for

    folder = tmp_path_factory.mktemp("precision")
    source = mlp_onnx(folder / "mlp.onnx")
    loaded = load(source)
    calibration = ({"x": np.random.default_rng(1).standard_normal((16, 16)).astype(np.float32)},)
    built = {"float": source}
    for key, precision, io_types in (("int8", "int8", "float"), ("half", "fp16", "native")):
        built[key] = folder / f"{key}.onnx"
        build_for("onnx", precision).writer()(loaded, built[key], True,
                                             PrecisionRequest(precision, io_types, calibration))
    return built


def _float_run(models, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(models["float"]), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_triton_and_kserve_name_half_types_and_the_precision(models, tmp_path):
    from converter.api import package
    from converter.core.config import read_config
    from converter.deploy.kserve import PRECISION_ANNOTATION
    from converter.deploy.triton import read_config as read_triton

    half = package(models["half"], "triton", tmp_path / "repo", name="half")
    int8 = package(models["int8"], "kserve", tmp_path / "repo", name="int8")
    assert half and int8, (half.to_dict(), int8.to_dict())
    config = read_triton(tmp_path / "repo" / "half" / "config.pbtxt")
    types = {t.name: t.data_type for t in [*config.input, *config.output]}
    from tritonclient.grpc import model_config_pb2 as pb

    assert types == {"x": pb.TYPE_FP16, "output": pb.TYPE_FP16}
    assert half.to_dict()["precision"].startswith("float16")
    assert "# precision: float16" in (tmp_path / "repo" / "half" / "config.pbtxt").read_text()
    quantized = read_triton(tmp_path / "repo" / "int8" / "config.pbtxt")
    assert {t.data_type for t in [*quantized.input, *quantized.output]} == {pb.TYPE_FP32}  # int8 inside, float I/O
    assert int8.to_dict()["precision"].startswith("int8 (QDQ")
    annotations = read_config(tmp_path / "repo" / "int8.yaml")["metadata"]["annotations"]
    assert annotations[PRECISION_ANNOTATION] == int8.to_dict()["precision"]
    plain = package(models["float"], "triton", tmp_path / "plain", name="plain")
    assert plain.to_dict()["precision"] == "float32"
    assert "precision" not in (tmp_path / "plain" / "plain" / "config.pbtxt").read_text()


def test_serve_casts_json_floats_to_half_and_answers_fp16(models):
    from converter.deploy import protocols
    from converter.deploy.served import load_served

    served = load_served(models["half"], "half")
    metadata = protocols.v2_metadata(served, [1])
    assert [t["datatype"] for t in metadata["inputs"] + metadata["outputs"]] == ["FP16", "FP16"]
    signature = protocols.v1_metadata(served)["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["x"]["dtype"] == signature["outputs"]["output"]["dtype"] == "DT_HALF"
    expected = _float_run(models, X)
    # v2 JSON in FP32 (what a client that knows no better sends), then the binary extension in FP16
    for datatype, extra in (("FP32", {"data": X.ravel().tolist()}),
                            ("FP16", {"parameters": {"binary_data_size": X.astype(np.float16).nbytes}})):
        header = {"inputs": [{"name": "x", "shape": [2, 16], "datatype": datatype, **extra}]}
        feeds, wanted = protocols.v2_feeds(header, X.astype(np.float16).tobytes() if datatype == "FP16" else b"")
        answer = json.loads(protocols.dumps(protocols.v2_answer(served, served.predict(feeds), wanted, None)))
        output = answer["outputs"][0]
        assert output["datatype"] == "FP16" and output["shape"] == [2, 4]
        assert _cosine(output["data"], expected) > 0.999
    feeds, form = protocols.v1_feeds({"instances": X.tolist()}, served.interface)
    rows = json.loads(protocols.dumps(protocols.v1_answer(served.predict(feeds), form)))["predictions"]
    assert _cosine(rows, expected) > 0.999


def test_bfloat16_tensors_travel_as_float32(tmp_path):
    import ml_dtypes

    from converter.core.runners import Runner
    from converter.deploy import protocols
    from converter.deploy.interface import Interface, TensorSpec
    from converter.deploy.served import ServedModel

    fed = []

    def run(feeds):  # as the pt2 and SavedModel runners are fed: float32, cast to the model's bfloat16 by them
        fed.append(feeds["x"].dtype.name)
        return [(feeds["x"] * 2).astype(ml_dtypes.bfloat16)]

    interface = Interface((TensorSpec("x", "bfloat16", (-1, 2)),), (TensorSpec("y", "bfloat16", (-1, 2)),))
    served = ServedModel("bf", 1, tmp_path, "test", interface, Runner("test", "cpu", run))
    metadata = protocols.v2_metadata(served, [1])
    assert [t["datatype"] for t in metadata["inputs"] + metadata["outputs"]] == ["FP32", "FP32"]
    feeds, _ = protocols.v2_feeds({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.5, 3]}]})
    answer = json.loads(protocols.dumps(protocols.v2_answer(served, served.predict(feeds), None, None)))
    assert fed == ["float32"]
    assert answer["outputs"][0]["datatype"] == "FP32" and answer["outputs"][0]["data"] == [3.0, 6.0]


def test_an_endpoint_declaring_float16_is_judged_by_the_fp16_budget(models):
    import onnx

    from converter.deploy.endpoint import _metadata_problems, served_precision
    from converter.deploy.served import load_served

    source = onnx.load(str(models["float"]))
    half = load_served(models["half"], "half").interface
    assert served_precision(source, half) == "fp16"
    assert served_precision(source, load_served(models["int8"], "int8").interface) is None  # float I/O: unseen
    assert _metadata_problems(source, ["x"], half, "fp16") == []
    assert _metadata_problems(source, ["x"], half) == ["x: endpoint dtype float16, source float32",
                                                       "output: endpoint dtype float16, source float32"]


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "datatype"), [("fp16", "FP16"), ("bf16", "FP32")])
def test_torchserve_handler_casts_json_floats_and_answers_in_the_output_dtype(models, tmp_path, precision,
                                                                               datatype):
    from types import SimpleNamespace

    from converter.api import load
    from converter.deploy.interface import Interface, TensorSpec
    from converter.deploy.torchserve_handler import Handler
    from converter.targets.precision import build_for

    build_for("pt2", precision).writer()(load(models["float"]), tmp_path / "model.pt2", True,
                                         PrecisionRequest(precision, "native"))
    dtype = {"fp16": "float16", "bf16": "bfloat16"}[precision]
    Interface((TensorSpec("x", dtype, (-1, 16)),), (TensorSpec("output", dtype, (-1, 4)),)).write(
        tmp_path / "interface.json")
    handler = Handler()
    handler.initialize(SimpleNamespace(system_properties={"model_dir": str(tmp_path)}))
    body = {"inputs": [{"name": "x", "shape": [2, 16], "datatype": "FP32", "data": X.ravel().tolist()}]}
    output = json.loads(json.dumps(handler.answer(body)))["outputs"][0]
    assert output["datatype"] == datatype and output["shape"] == [2, 4]
    assert _cosine(output["data"], _float_run(models, X)) > {"fp16": 0.999, "bf16": 0.99}[precision]
    rows = json.loads(json.dumps(handler.answer({"instances": X.tolist()})))["predictions"]
    assert _cosine(rows, _float_run(models, X)) > 0.99


@pytest.mark.external
def test_validate_endpoint_uses_the_precision_budget(models, tmp_path):
    from converter.api import package, validate_endpoint
    from converter.validation.tolerance import Tolerances

    for key in ("half", "int8"):
        assert package(models[key], "triton", tmp_path / "repo", name=key)
    port = free_port()
    process = start_graphtool_serve(tmp_path / "repo", port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/v2/health/ready", process)
        half = validate_endpoint(models["float"], url, endpoint_model="half", protocol="v2")
        assert half and half.signature_problems == (), half.to_dict()
        assert any("fp16 budget" in note for note in half.notes)
        # int8 with float I/O looks like float32 from outside: float32 tolerances catch its error, its budget not
        strict = validate_endpoint(models["float"], url, endpoint_model="int8", protocol="tfserving")
        assert not strict
        budget = validate_endpoint(models["float"], url, endpoint_model="int8", protocol="tfserving",
                                   tolerances=Tolerances().with_precision("int8"))
        assert budget, budget.to_dict()
    finally:
        stop(process)
