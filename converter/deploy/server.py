"""`graphtool serve`: one port speaking TF Serving's REST API v1 and the Open Inference Protocol v2 (FastAPI).

FastAPI is imported at the top (it reads the route annotations); only `graphtool serve` imports this module.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from converter.core.version import version
from converter.deploy import protocols
from converter.deploy.errors import BadRequest, NotFound, RequestError, TooLarge
from converter.deploy.repository import Repository, load_repository

__all__ = ["create_app", "serve", "ServeResult", "MAX_BODY"]

MAX_BODY = 64 * 2**20


@dataclass(frozen=True)
class ServeResult:
    """What a finished `serve` served: where, and each model's versions, labels and replayed warmup requests."""

    url: str
    models: tuple[dict, ...]

    def to_dict(self) -> dict:
        return {"url": self.url, "models": [dict(m) for m in self.models]}


def create_app(repository: Repository, max_body: int = MAX_BODY, drain_limit: int = 64 * 2**20):
    """The ASGI app: thin routes that translate each protocol to ServedModel.predict and back."""
    app = FastAPI(title="graphtool serve", docs_url=None, redoc_url=None, openapi_url=None)

    def answer(document: Any, status: int = 200) -> Response:
        return Response(protocols.dumps(document), status_code=status, media_type="application/json")

    @app.exception_handler(RequestError)
    async def refused(request: Request, error: RequestError) -> Response:
        return answer({"error": str(error)}, error.status)

    @app.exception_handler(404)
    async def no_route(request: Request, error: Exception) -> Response:
        return answer({"error": f"no route {request.method} {request.url.path}"}, 404)

    @app.exception_handler(405)
    async def wrong_method(request: Request, error: Exception) -> Response:
        return answer({"error": f"{request.method} is not allowed on {request.url.path}"}, 405)

    async def body_of(request: Request) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= max_body:
                chunks.append(chunk)
            elif size > max_body + drain_limit:
                break
        # An oversized body is read to its end (kept nowhere, up to drain_limit past the limit) before the 413:
        # a client still sending when the server answers and closes sees a reset connection instead of the answer.
        if size > max_body:
            raise TooLarge(f"the body is over this server's limit of {max_body} bytes; send smaller batches or "
                           "raise serve's --max-body-mb")
        return b"".join(chunks)

    def parse(data: bytes) -> Any:
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BadRequest(f"the body is not JSON: {error}") from error

    @app.get("/v1/models/{path:path}")
    async def v1_get(path: str) -> Response:
        parts = path.strip("/").split("/")
        metadata = parts[-1] == "metadata"
        parts = parts[:-1] if metadata else parts
        model = _v1_model(repository, parts)
        if metadata:
            return answer(protocols.v1_metadata(model))
        if len(parts) == 1:
            return answer(protocols.v1_status(sorted(repository.entry(parts[0]).versions.values(),
                                                     key=lambda m: m.version)))
        return answer(protocols.v1_status([model]))

    @app.post("/v1/models/{path:path}")
    async def v1_post(path: str, request: Request) -> Response:
        target, _, verb = path.rpartition(":")
        if verb != "predict":
            raise BadRequest(f"unsupported verb ':{verb}'; this server answers :predict") if target else \
                NotFound(f"no route POST /v1/models/{path}; use /v1/models/NAME:predict")
        model = _v1_model(repository, target.strip("/").split("/"))
        feeds, form = protocols.v1_feeds(parse(await body_of(request)), model.interface)
        outputs = await run_in_threadpool(model.predict, feeds)
        return answer(protocols.v1_answer(outputs, form))

    @app.get("/v2")
    async def v2_server() -> Response:
        return answer({"name": "graphtool", "version": version(), "extensions": ["binary_tensor_data"]})

    @app.get("/v2/health/live")
    async def live() -> Response:
        return answer({"live": True})

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        return answer({"ready": True})

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def v2_metadata(name: str, version: str | None = None) -> Response:
        model = repository.resolve(name, version)
        return answer(protocols.v2_metadata(model, sorted(repository.entry(name).versions)))

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def v2_ready(name: str, version: str | None = None) -> Response:
        model = repository.resolve(name, version)
        return answer({"name": model.name, "ready": True})

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def v2_infer(name: str, request: Request, version: str | None = None) -> Response:
        model = repository.resolve(name, version)
        data = await body_of(request)
        split = request.headers.get("inference-header-content-length")
        if split is not None and not (split.isdigit() and int(split) <= len(data)):
            raise BadRequest("Inference-Header-Content-Length is not a length within the body")
        cut = int(split) if split is not None else len(data)
        header = parse(data[:cut])
        feeds, wanted = protocols.v2_feeds(header, data[cut:])
        outputs = await run_in_threadpool(model.predict, feeds)
        return answer(protocols.v2_answer(model, outputs, wanted, header.get("id")))

    return app


def _v1_model(repository: Repository, parts: list[str]):
    """NAME, NAME/versions/N or NAME/labels/L to a served model."""
    if len(parts) == 1 and parts[0]:
        return repository.resolve(parts[0])
    if len(parts) == 3 and parts[1] == "versions":
        return repository.resolve(parts[0], parts[2])
    if len(parts) == 3 and parts[1] == "labels":
        return repository.resolve(parts[0], label=parts[2])
    raise NotFound(f"no route /v1/models/{'/'.join(parts)}; expected NAME, NAME/versions/N or NAME/labels/L")


def serve(path: Path, *, host: str = "127.0.0.1", port: int = 8501, name: str | None = None,
          max_body: int = MAX_BODY, announce: Callable[[str], None] = print, trust_code: bool = False) -> ServeResult:
    """Load everything under `path`, bind, and serve until SIGTERM or SIGINT (in-flight requests finish)."""
    import os

    import uvicorn

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    repository = load_repository(path, name, trust_code)
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else a 40 ms delayed-ACK
    # stall per response, measured)
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        from converter.core.errors import GraphtoolError

        raise GraphtoolError(f"--host {host} --port {port}: cannot bind ({error.strerror}); pick another port "
                             "or --port 0 for a free one") from error
    bound = listener.getsockname()[1]
    config = uvicorn.Config(create_app(repository, max_body), log_level="warning", timeout_graceful_shutdown=30,
                            access_log=False)
    url = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
    result = ServeResult(url, tuple({"name": e.name, "versions": sorted(e.versions), "labels": dict(e.labels),
                                     "warmup": e.warmup} for e in repository.models.values()))
    for entry in result.models:
        labels = f", labels {entry['labels']}" if entry["labels"] else ""
        warmup = f", {entry['warmup']} warmup requests replayed" if entry["warmup"] else ""
        announce(f"model {entry['name']}: versions {entry['versions']}{labels}{warmup}")
    announce(f"serving on {url} (TF Serving REST v1 and Open Inference Protocol v2)")
    # uvicorn drains on SIGTERM, then re-raises it to the previous handler: make that a clean exit, not an interrupt
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        signal.signal(signal.SIGTERM, previous)
    announce("stopped")
    return result
