"""TorchServe for real: the packaged .mar served by torchserve on 127.0.0.1, checked with validate --endpoint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from deploy_helpers import free_port, mlp_onnx, stop, wait_for

pytestmark = [pytest.mark.external, pytest.mark.skipif(shutil.which("java") is None,
                                                      reason="TorchServe's frontend needs Java 17 (make java)")]
TORCHSERVE = Path(sys.executable).with_name("torchserve")


def _post(url: str, body) -> tuple[int, object]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def torchserve(tmp_path_factory):
    """The ONNX MLP packaged as mlp.mar (pt2), served by torchserve with every address on 127.0.0.1."""
    if not TORCHSERVE.exists():
        pytest.skip("torchserve is not installed (pip install 'graphtool[serve]')")
    from converter.api import package
    from converter.deploy.torchserve import config_properties

    folder = tmp_path_factory.mktemp("torchserve")
    source = mlp_onnx(folder / "mlp.onnx")
    result = package(source, "torchserve", folder / "store")
    assert result, result.to_dict()
    properties = (folder / "store" / "config.properties").read_text()
    assert all(line.split("=", 1)[1].startswith(("http://127.0.0.1:", "127.0.0.1"))
               for line in properties.splitlines() if "_address=" in line)
    ports = [free_port() for _ in range(7)]
    config = folder / "config.properties"
    work = folder / "work"
    work.mkdir()
    # the frontend unpacks archives into java.io.tmpdir (else /tmp/models); the worker socket is named by port
    config.write_text(config_properties(folder / "store", *ports[:3], grpc=(ports[3], ports[4]))
                      + f"vmargs=-Djava.io.tmpdir={work}\ninitial_worker_port={ports[5]}\n"
                      f"initial_distribution_port={ports[6]}\n")
    env = {**os.environ, "TMPDIR": str(work), "LOG_LOCATION": str(work / "logs"),
           "METRICS_LOCATION": str(work / "logs"), "TS_HOME": str(work)}
    process = subprocess.Popen(
        [str(TORCHSERVE), "--start", "--foreground", "--ncs", "--disable-token-auth", "--model-store",
         str(folder / "store"), "--models", "mlp=mlp.mar", "--ts-config", str(config)],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{ports[1]}/models/mlp", process, timeout=120)
        wait_for(f"http://127.0.0.1:{ports[0]}/ping", process, timeout=60)
        yield f"http://127.0.0.1:{ports[0]}", source
    finally:
        stop(process)
        if process.poll() is None or _alive(process.pid):
            os.killpg(process.pid, 9)  # the Java frontend and its Python worker share the group


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_validate_endpoint_against_torchserve(torchserve, cli):
    url, source = torchserve
    done = cli("validate", source, "--endpoint", url, "--protocol", "torchserve", "--model", "mlp", "--json")
    report = json.loads(done.stdout)
    assert done.exit_code == 0 and report["passed"], done.output
    assert report["devices"][0]["outputs"][0]["max_abs"] < 1e-4  # the source's own numbers, through TorchServe


def test_handler_body_forms_and_4xx(torchserve):
    url, source = torchserve
    x = np.random.default_rng(3).standard_normal((2, 16)).astype(np.float32)
    expected = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    status, plain = _post(f"{url}/predictions/mlp", x.tolist())
    assert status == 200
    np.testing.assert_allclose(plain, expected, rtol=1e-4, atol=1e-5)
    status, rows = _post(f"{url}/predictions/mlp", {"instances": x.tolist()})
    np.testing.assert_allclose(rows["predictions"], expected, rtol=1e-4, atol=1e-5)
    body = {"inputs": [{"name": "x", "shape": [2, 16], "datatype": "FP32", "data": x.ravel().tolist()}]}
    status, v2 = _post(f"{url}/predictions/mlp", body)
    assert v2["outputs"][0]["shape"] == [2, 4]
    np.testing.assert_allclose(np.reshape(v2["outputs"][0]["data"], (2, 4)), expected, rtol=1e-4, atol=1e-5)
    for bad in (b"{nope", {"inputs": {"x": [[1.0, 2.0]]}}, {"inputs": {"z": [[1.0] * 16]}}, {"other": 1}):
        status, answer = _post(f"{url}/predictions/mlp", bad)
        assert status == 400, (bad, status, answer)
    assert _post(f"{url}/predictions/mlp", x.tolist())[0] == 200  # still serving


def test_bench_drives_torchserve_at_two_concurrencies(torchserve):
    from converter import api

    url, source = torchserve
    settings = api.bench_settings(runtimes=("onnx",), batch_sizes=(1,), min_seconds=0.2, max_seconds=1.0)
    load = api.endpoint_load(url, protocol="torchserve", model="mlp", concurrency=(1, 4), seconds=2.0, serves="onnx")
    result = api.bench(source, settings=settings, endpoint=load)
    assert [row.concurrency for row in result.endpoint] == [1, 4]
    for row in result.endpoint:
        assert row.errors == 0 and row.requests > 0 and row.throughput > 0 and row.p50_ms > 0, row
        assert row.overhead is not None
