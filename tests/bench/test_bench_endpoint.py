"""`bench --endpoint` against a real `graphtool serve`: closed-loop load at two concurrencies, beside onnxruntime."""

from __future__ import annotations

import pytest
from deploy_helpers import free_port, mlp_onnx, start_graphtool_serve, stop, wait_for

from converter import api

pytestmark = pytest.mark.external


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    source = mlp_onnx(tmp_path_factory.mktemp("bench-endpoint") / "mlp.onnx")
    port = free_port()
    process = start_graphtool_serve(source, port)
    try:
        wait_for(f"http://127.0.0.1:{port}/v2/health/ready", process)
        yield f"http://127.0.0.1:{port}", source
    finally:
        stop(process)


@pytest.mark.parametrize("protocol", ["v2", "tfserving"])
def test_the_served_model_under_load_beside_its_runtime(served, protocol):
    url, source = served
    settings = api.bench_settings(runtimes=("onnx",), batch_sizes=(1, 4), min_seconds=0.2, max_seconds=1.0)
    load = api.endpoint_load(url, protocol=protocol, concurrency=(1, 4), seconds=1.0)
    result = api.bench(source, settings=settings, endpoint=load)
    rows = {(row.batch, row.concurrency): row for row in result.endpoint}
    assert set(rows) == {(1, 1), (1, 4), (4, 1), (4, 4)}
    for row in rows.values():
        assert row.protocol == protocol and row.errors == 0 and row.requests > 0, row
        assert 0 < row.p50_ms <= row.p90_ms <= row.p99_ms and row.throughput > 0
        assert row.served_runtime == "onnx" and row.overhead > 0  # HTTP and JSON cost more than the session
    assert len(rows[(1, 4)].latencies_ms) == rows[(1, 4)].requests


def test_a_server_that_is_not_there_is_one_line_before_any_work(cli, tmp_path):
    result = cli("bench", mlp_onnx(tmp_path / "m.onnx"), "--endpoint", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2 and "is the server running" in result.output and "Traceback" not in result.output
