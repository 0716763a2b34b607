"""graphtool serve, started for real on 127.0.0.1 and checked with tritonclient (v2) and plain HTTP (v1)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
import pytest
from deploy_helpers import free_port, mlp_onnx, start_graphtool_serve, stop, wait_for

pytestmark = pytest.mark.external


def _request(method: str, url: str, body=None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def triton_server(tmp_path_factory):
    """A Triton repository of the ONNX MLP (versions 1 and 2, different weights) served by graphtool serve."""
    from converter.api import package

    folder = tmp_path_factory.mktemp("served")
    sources = [mlp_onnx(folder / "mlp.onnx", seed=0), mlp_onnx(folder / "mlp_v2.onnx", seed=1)]
    for source in sources:
        assert package(source, "triton", folder / "repo", name="mlp")
    port = free_port()
    process = start_graphtool_serve(folder / "repo", port, "--max-body-mb", "1")
    try:
        wait_for(f"http://127.0.0.1:{port}/v2/health/ready", process)
        yield f"127.0.0.1:{port}", process, sources
    finally:
        stop(process)


def _expected(source, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_tritonclient_infers_every_version(triton_server):
    import tritonclient.http as triton

    address, _, sources = triton_server
    client = triton.InferenceServerClient(address)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mlp")
    metadata = client.get_model_metadata("mlp")
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 16]}]
    assert metadata["versions"] == ["1", "2"]
    x = np.random.default_rng(5).standard_normal((3, 16)).astype(np.float32)
    for binary in (True, False):
        feed = triton.InferInput("x", list(x.shape), "FP32")
        feed.set_data_from_numpy(x, binary_data=binary)
        for version, source in zip(("1", "2"), sources, strict=True):
            result = client.infer("mlp", [feed], model_version=version)
            np.testing.assert_allclose(result.as_numpy("output"), _expected(source, x), rtol=1e-5, atol=1e-5)
    latest = client.infer("mlp", [feed]).as_numpy("output")
    np.testing.assert_allclose(latest, _expected(sources[1], x), rtol=1e-5, atol=1e-5)


def test_v1_row_and_columnar_forms(triton_server):
    address, _, sources = triton_server
    base = f"http://{address}/v1/models/mlp"
    x = np.random.default_rng(6).standard_normal((2, 16)).astype(np.float32)
    status, rows = _request("POST", f"{base}/versions/1:predict", {"instances": x.tolist()})
    assert status == 200
    np.testing.assert_allclose(rows["predictions"], _expected(sources[0], x), rtol=1e-5, atol=1e-5)
    status, columns = _request("POST", f"{base}:predict", {"inputs": {"x": x.tolist()}})
    np.testing.assert_allclose(columns["outputs"], _expected(sources[1], x), rtol=1e-5, atol=1e-5)
    status, state = _request("GET", base)
    assert [s["version"] for s in state["model_version_status"]] == ["1", "2"]
    assert state["model_version_status"][0]["status"] == {"error_code": "OK", "error_message": ""}
    status, metadata = _request("GET", f"{base}/metadata")
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert signature["inputs"]["x"]["tensor_shape"]["dim"][1]["size"] == "16"


BAD = [
    ("POST", "/v1/models/mlp:predict", b"{not json", 400, "not JSON"),
    ("POST", "/v1/models/mlp:predict", {"instances": [[1.0, 2.0]]}, 400, "does not fit"),
    ("POST", "/v1/models/mlp:predict", {"inputs": {"y": [[1.0] * 16]}}, 400, "unknown input 'y'"),
    ("POST", "/v1/models/mlp:predict", {"instances": [["a"] * 16]}, 400, "expected float32"),
    ("POST", "/v1/models/nope:predict", {"instances": [[1.0] * 16]}, 404, "Servable not found"),
    ("GET", "/v1/models/mlp/versions/9", None, 404, "Specific(mlp, 9)"),
    ("POST", "/v2/models/mlp/infer", {"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32",
                                                  "data": [1.0] * 3}]}, 400, "does not fill"),
    ("POST", "/v2/models/mlp/infer", {"inputs": [{"name": "x", "shape": [1, 16], "datatype": "BYTES",
                                                  "data": ["a"] * 16}]}, 400, "BYTES is not served"),
    ("POST", "/v2/models/mlp/versions/7/infer", {"inputs": []}, 404, "Specific(mlp, 7)"),
    ("POST", "/v2/models/mlp/infer", b"[" * 10 + b"1" * (2 * 2**20), 413, "over this server's limit"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD, ids=[b[4] for b in BAD])
def test_bad_requests_get_4xx_and_the_server_keeps_serving(triton_server, method, path, body, status, message):
    address, process, _ = triton_server
    code, answer = _request(method, f"http://{address}{path}", body)
    assert code == status and message in answer["error"], answer
    assert "\n" not in answer["error"]
    assert process.poll() is None and _request("GET", f"http://{address}/v2/health/live")[0] == 200


def test_concurrent_requests_all_answer_right(triton_server):
    address, _, sources = triton_server
    rng = np.random.default_rng(7)
    batches = [rng.standard_normal((n % 4 + 1, 16)).astype(np.float32) for n in range(48)]

    def call(x):
        return _request("POST", f"http://{address}/v1/models/mlp/versions/1:predict", {"instances": x.tolist()})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, batches))
    for x, (status, body) in zip(batches, answers, strict=True):
        assert status == 200
        np.testing.assert_allclose(body["predictions"], _expected(sources[0], x), rtol=1e-5, atol=1e-5)


def test_validate_endpoint_passes_and_catches_a_wrong_model(triton_server, cli):
    address, _, sources = triton_server
    for protocol in ("v2", "tfserving", "auto"):
        done = cli("validate", sources[1], "--endpoint", f"http://{address}", "--model", "mlp", "--json",
                   "--protocol", protocol)
        report = json.loads(done.stdout)
        assert done.exit_code == 0 and report["passed"], done.output
        assert report["devices"][0]["runner"].startswith("tfserving" if protocol == "tfserving" else "v2")
        assert report["signature_problems"] == [] and len(report["samples"]) == 6  # 3, negated, scaled, zeroed
    # version 2 (the latest) has other weights than this source: the numbers must say so
    done = cli("validate", sources[0], "--endpoint", f"http://{address}", "--model", "mlp", "--json")
    report = json.loads(done.stdout)
    assert done.exit_code == 1 and not report["passed"]
    assert report["devices"][0]["outputs"][0]["max_abs"] > 1e-2


def test_sigterm_stops_the_server(tmp_path):
    source = mlp_onnx(tmp_path / "one.onnx")
    port = free_port()
    process = start_graphtool_serve(source, port)
    wait_for(f"http://127.0.0.1:{port}/v2/health/ready", process)
    assert "serving on http://127.0.0.1:" in process.stderr.readline() + process.stderr.readline()
    assert stop(process) == 0  # SIGTERM: uvicorn drains and exits cleanly
