"""Ray for a batch: a private local cluster on 127.0.0.1 by default, or an existing one joined by address."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator

from converter.core.deadline import uninterrupted
from converter.core.errors import GraphtoolError, MissingExtraError

__all__ = ["ray_cluster", "import_ray", "check_reachable"]

CONNECT_SECONDS = 3.0


def import_ray():
    """Ray, or a one-line 'install graphtool[batch]'."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports sent from a CI machine
    try:
        import ray
    except ImportError as error:
        raise MissingExtraError("ray", "batch") from error
    return ray


@contextlib.contextmanager
def ray_cluster(address: str | None, workers: int | None) -> Iterator[dict]:
    """Yield a description of the cluster Ray is connected to; a local one is stopped and removed on exit."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "auto":
        check_reachable(address)
    # Ray reads these once, when it is imported
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # the C++ core's warnings would flood the terminal
    if address and "RAY_AUTH_MODE" not in os.environ and _token_available():
        os.environ["RAY_AUTH_MODE"] = "token"  # a driver joining by address does not turn it on by itself
    ray = import_ray()
    temporary = None if address else tempfile.mkdtemp(prefix="graphtool-ray-")  # private: no `auto` finds it
    try:
        with _sigterm_kept():
            description = _join(ray, address) if address else _start_local(ray, workers, temporary)
        yield description
    finally:
        ray.shutdown()
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def _start_local(ray, workers: int | None, temporary: str) -> dict:
    saved = os.environ.pop("RAY_ADDRESS", None)  # an empty or stale value would make init join instead
    try:
        # Ctrl-C waits for the start to end: cut halfway, ray.shutdown would not know the processes already
        # started, which outlive graphtool and write into the temporary folder after it is removed
        with uninterrupted():
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, _node_ip_address="127.0.0.1",
                     _temp_dir=temporary, log_to_driver=False, logging_level=logging.WARNING)
    finally:
        if saved is not None:
            os.environ["RAY_ADDRESS"] = saved
    return _describe(ray, "local (127.0.0.1)")


def _join(ray, address: str) -> dict:
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as error:
        raise GraphtoolError(f"--address {address}: could not join a Ray cluster there ({_short(error)}); check it "
                             "is a head's GCS port, of the same Ray version, with the same token auth (RAY_AUTH_MODE, "
                             "~/.ray/auth_token), or leave out --address to run locally") from error
    except Exception as error:  # Ray raises plain RuntimeErrors for auth and version mismatches
        hint = ("; a head started with token auth needs the same RAY_AUTH_MODE (and token) on this side"
                if "auth" in str(error).lower() else "")
        raise GraphtoolError(f"--address {address}: joining the Ray cluster failed: {_short(error)}{hint}") from error
    return _describe(ray, address)


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """ray.init takes SIGTERM (a sys.exit, then its C++ core's abort with a stack dump), which would end the
    batch without its summary: give it back to the handler there was (graphtool's: unwind like Ctrl-C)."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, handler)


def _token_available() -> bool:
    from pathlib import Path

    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or Path(path).is_file()


def _describe(ray, address: str) -> dict:
    resources = ray.cluster_resources()
    return {"address": address, "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
            "cpus": int(resources.get("CPU", 0)), "ray": ray.__version__}


def check_reachable(address: str) -> None:
    """Fail within seconds, with one line, when nothing listens at HOST:PORT (Ray itself retries for minutes)."""
    if address.startswith("ray://"):
        raise GraphtoolError(f"--address {address}: Ray Client addresses are not supported; give the head's "
                             "GCS address HOST:PORT (6379 by default) and run graphtool on a node of the cluster")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise GraphtoolError(f"--address {address}: expected HOST:PORT of a Ray head (e.g. 127.0.0.1:6379) or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise GraphtoolError(f"--address {address}: nothing answers there ({reason}); start the head with "
                             f"`ray start --head --port {port}` or fix the address") from error


def _short(error: BaseException) -> str:
    from converter.core.errors import first_line

    return first_line(error, 200)
