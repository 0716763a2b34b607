"""A live server in the bench table: closed-loop clients at each concurrency, each on a connection of its own."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.bench.report import EndpointTiming, RuntimeResult
from converter.core.errors import GraphtoolError
from converter.deploy.endpoint import Client, client_for

__all__ = ["EndpointLoad", "SERVED_BY_PROTOCOL"]

# A request that got no HTTP answer: the socket failed, or what came back was not HTTP
_REQUEST_FAILURES = (OSError, http.client.HTTPException)
# What a server of each protocol most likely runs, for its overhead when --serves does not say
SERVED_BY_PROTOCOL = {"v2": "onnx", "tfserving": "savedmodel", "torchserve": "torchscript"}


@dataclass(frozen=True)
class EndpointLoad:
    """Drive URL with `concurrency` clients that each send the next request when the last one is answered."""

    url: str
    protocol: str = "auto"
    model: str | None = None  # the served model's name; default: the source's file name
    concurrency: tuple[int, ...] = (1, 4)
    seconds: float = 5.0  # per concurrency level, after one warm-up request per client
    serves: str | None = None  # the in-process runtime the server runs (its overhead is against that); default:
    # the one artifact runtime timed beside it, else the protocol's usual one (SERVED_BY_PROTOCOL)

    def __post_init__(self) -> None:
        if not self.concurrency or min(self.concurrency) < 1:
            raise GraphtoolError(f"--concurrency {','.join(map(str, self.concurrency))}: expected 1 or more clients")
        if self.seconds <= 0:
            raise GraphtoolError(f"--endpoint-seconds {self.seconds}: expected a positive number of seconds")

    def client(self, name: str) -> Client:
        """The server reached over the protocol it answers (checked before anything is converted)."""
        return client_for(self.url, self.protocol, self.model or name)

    def measure(self, client: Client, feeds: dict[int, Path],
                results: tuple[RuntimeResult, ...]) -> tuple[EndpointTiming, ...]:
        """A row per (batch, concurrency), with the overhead over the runtime the server runs."""
        serves = self.serves or _served_runtime(client, results)
        in_process = next((r for r in results if r.runtime == serves), None)
        rows = []
        for batch, path in feeds.items():
            with np.load(path) as data:
                body = client.infer_body({name: data[name] for name in data.files})
            for clients in self.concurrency:
                latencies, errors, elapsed, error = _closed_loop(client, body, clients, self.seconds)
                rows.append(_row(client, batch, clients, latencies, errors, elapsed, error, serves, in_process))
        return tuple(rows)


def _served_runtime(client: Client, results: tuple[RuntimeResult, ...]) -> str | None:
    """The one artifact runtime timed beside the server, else what a server of its protocol most likely runs."""
    timed = [r.runtime for r in results if r.runtime != "source" and r.error is None]
    return timed[0] if len(timed) == 1 else SERVED_BY_PROTOCOL.get(client.protocol)


def _closed_loop(client: Client, body: bytes, clients: int, seconds: float) -> tuple[list[float], int, float, str]:
    """Each client: one warm-up request, then requests back to back until the time is up."""
    parts = urllib.parse.urlsplit(client.base)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "") + client.infer_path()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at: list[float] = []
    # the clock starts once every client is warm; the action runs before any of them is released
    ready = threading.Barrier(clients + 1, action=lambda: stop_at.append(time.perf_counter() + seconds))

    def send(connection: http.client.HTTPConnection) -> tuple[int, bytes]:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()

    def work() -> None:
        connection = connection_type(parts.hostname, parts.port, timeout=60)
        mine, failed = [], []
        try:
            send(connection)  # warm-up: the connection is open and the server has seen this shape
        except _REQUEST_FAILURES as problem:  # any failure: every client must still reach the barrier
            failed.append(str(problem))
        ready.wait()
        while not failed and time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            try:
                status, answer = send(connection)
            except _REQUEST_FAILURES as problem:  # a dropped connection: counted, then the client reconnects
                failed.append(str(problem))
                connection.close()
                continue
            if status == 200:
                mine.append((time.perf_counter() - began) * 1000)
            else:
                failed.append(f"HTTP {status}: {answer[:200].decode(errors='replace')}")
        connection.close()
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    start = stop_at[0] - seconds
    for thread in threads:
        thread.join()
    return latencies, len(errors), time.perf_counter() - start, errors[0] if errors else ""


def _row(client: Client, batch: int, clients: int, latencies: list[float], errors: int, elapsed: float, error: str,
         serves: str | None, in_process: RuntimeResult | None) -> EndpointTiming:
    if not latencies:
        return EndpointTiming(client.base, client.protocol, clients, batch, 0, errors, None, None, None, None, serves,
                              error=error or "no answer in time")
    values = np.asarray(latencies)
    p50, p90, p99 = (round(float(np.percentile(values, q)), 3) for q in (50, 90, 99))
    timing = in_process.at(batch) if in_process is not None else None
    overhead = float(f"{p50 / timing.p50_ms:.4g}") if timing is not None and timing.p50_ms else None
    return EndpointTiming(client.base, client.protocol, clients, batch, len(latencies), errors, p50, p90, p99,
                          round(batch * len(latencies) / elapsed, 3), serves, overhead, error or None,
                          tuple(round(v, 3) for v in latencies))
