"""`graphtool serve` under load: 8 clients for 30 s per model, next to the same onnxruntime session in-process.

Usage: python benchmarks/bench_serve.py [--seconds 30] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
MODELS = {"small CNN": "fixtures/torch/cnn.pt2", "BERT-class encoder": "fixtures/torch/encoder.pt2"}


def _load_phase(call, seconds: float, clients: int) -> dict:
    """`clients` threads calling `call()` for `seconds`: throughput, p50 / p99 latency, errors."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop_at = time.perf_counter() + seconds

    def worker(index: int) -> None:
        state = {}
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            try:
                call(state)
            except Exception:  # counted, the run goes on: the figure is how many failed
                errors[index] += 1
                continue
            latencies[index].append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = sorted(x for per in latencies for x in per)
    return {"requests": len(merged), "per_s": len(merged) / seconds, "errors": sum(errors),
            "p50_ms": 1e3 * statistics.median(merged), "p99_ms": 1e3 * merged[int(0.99 * (len(merged) - 1))]}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench(label: str, source: str, seconds: float, clients: int, folder: Path) -> dict:
    import onnxruntime as ort
    from deploy_helpers import free_port, start_graphtool_serve, stop, wait_for

    from converter import api

    converted = api.convert(ROOT / source, "onnx", folder / f"{Path(source).stem}.onnx", force=True)
    feeds = {k: np.asarray(v) for k, v in converted.report.samples[0].feeds.items()}
    session = ort.InferenceSession(str(converted.output), providers=["CPUExecutionProvider"])
    in_process = _load_phase(lambda state: session.run(None, feeds), seconds, clients)

    port = free_port()
    process = start_graphtool_serve(converted.output, port, "--name", "m")
    try:
        wait_for(f"http://127.0.0.1:{port}/v2/health/ready", process)
        bodies = _bodies(feeds)

        def call(state: dict, form: str) -> None:
            body, headers = bodies[form]
            connection = state.get("c")
            if connection is None:  # one keep-alive connection per client; no Nagle delay on its writes
                connection = state["c"] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.connect()
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.request("POST", "/v2/models/m/infer", body, headers)
            response = connection.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(data[:200])

        _load_phase(lambda state: call(state, "json"), 2, clients)  # warm the thread pool and connections
        memory_start = _rss_mb(process.pid)
        samples = []
        sampler_stop = threading.Event()

        def sample_memory() -> None:
            while not sampler_stop.wait(1.0):
                samples.append(_rss_mb(process.pid))

        sampler = threading.Thread(target=sample_memory)
        sampler.start()
        served = {form: _load_phase(lambda state, form=form: call(state, form), seconds, clients)
                  for form in ("binary", "json")}
        sampler_stop.set()
        sampler.join()
        served["binary"]["rss_mb_start"], served["binary"]["rss_mb_end"] = memory_start, _rss_mb(process.pid)
        served["binary"]["rss_mb_max"] = max(samples or [memory_start])
    finally:
        stop(process)
    return {"model": label, "body_bytes": {f: len(b) for f, (b, _) in bodies.items()}, "in_process": in_process,
            "served v2 binary": served["binary"], "served v2 JSON": served["json"],
            "p50_overhead_ms": {f: served[f]["p50_ms"] - in_process["p50_ms"] for f in served}}


def _bodies(feeds: dict[str, np.ndarray]) -> dict[str, tuple[bytes, dict]]:
    """The same request as JSON data, and with the binary tensor extension (tritonclient's default)."""
    def header(binary: bool) -> list:
        return [{"name": n, "shape": list(a.shape), "datatype": _v2(a),
                 **({"parameters": {"binary_data_size": a.nbytes}} if binary else {"data": a.ravel().tolist()})}
                for n, a in feeds.items()]

    plain = json.dumps({"inputs": header(False)}).encode()
    head = json.dumps({"inputs": header(True)}).encode()
    raw = b"".join(np.ascontiguousarray(a).tobytes() for a in feeds.values())
    return {"json": (plain, {"Content-Type": "application/json"}),
            "binary": (head + raw, {"Content-Type": "application/octet-stream",
                                    "Inference-Header-Content-Length": str(len(head))})}


def _v2(array: np.ndarray) -> str:
    from converter.deploy.interface import V2_DTYPES

    return V2_DTYPES[array.dtype.name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = [bench(label, source, arguments.seconds, arguments.clients, Path(folder))
                   for label, source in MODELS.items()]
    print(f"{arguments.clients} clients, {arguments.seconds:g} s per phase, keep-alive HTTP/1.1, onnxruntime CPU")
    print("| model | where | req/s | p50 ms | p99 ms | errors | server RSS MB (start -> end, max) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for result in results:
        for where in ("in_process", "served v2 binary", "served v2 JSON"):
            row = result[where]
            memory = (f"{row['rss_mb_start']:.0f} -> {row['rss_mb_end']:.0f} ({row['rss_mb_max']:.0f})"
                      if "rss_mb_start" in row else "")
            print(f"| {result['model']} | {where} | {row['per_s']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                  f"{row['errors']} | {memory} |")
        overhead = ", ".join(f"{form} {ms:.2f} ms" for form, ms in result["p50_overhead_ms"].items())
        print(f"p50 overhead per request, {result['model']}: {overhead}; bodies {result['body_bytes']} B")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
