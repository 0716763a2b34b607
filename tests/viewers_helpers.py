"""Shared by the viewer tests: a headless Chromium through playwright, free ports, servers stopped by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "screenshots"


def chromium_path() -> str | None:
    """The system Chromium (Debian's `chromium`), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 900) -> Iterator:
    """A playwright page in the system Chromium; skips where there is none (playwright cannot download one here)."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium on PATH: `make setup` installs Debian's chromium (as root)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(15000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.errors = errors
            yield page
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll until the URL answers 200; fail with the server's output if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {_output(process)}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@contextlib.contextmanager
def server(command: list[str], ready_url: str, log: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """Start a server process in its own session, wait for readiness, stop it (and its children) by PID."""
    handle = open(log, "wb")  # noqa: SIM115 - closed in finally, after the process is gone
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT,
                               env={**os.environ, **(env or {})}, start_new_session=True)
    process.log = log
    try:
        wait_for_http(ready_url, process)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        handle.close()


def _output(process: subprocess.Popen) -> str:
    log = getattr(process, "log", None)
    return log.read_text(errors="replace")[-2000:] if log and log.exists() else ""


PYTHON = sys.executable
