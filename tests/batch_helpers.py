"""Helpers for the batch tests: a small model zoo, a private network namespace, our Ray processes, a Batch to stop."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import onnx
from conftest import ROOT, TF_DIR
from onnx import TensorProto, helper

# A bound on a hang, never a guess at how long something takes: every wait of these tests is for a condition
# (a line, a file, a process gone) and ends as soon as it holds; this only stops a test that would wait forever.
HANG_S = 900

# A Python file of models that misbehave in their worker: one segfaults, one hangs deaf to SIGALRM (and says
# so in a file beside it, for the tests that must interrupt it while it runs).
ZOO_PY = '''
import ctypes, pathlib, signal, time

def crash():
    ctypes.string_at(0)  # a real segfault, not an exception

def hang():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # deaf to graphtool's own loading deadline
    pathlib.Path(__file__).with_name("hanging").touch()
    time.sleep(3600)

def noisy():
    import torch

    class Noisy(torch.nn.Module):  # exported as RandomUniformLike: the source and its ONNX never agree
        def forward(self, x):
            return x + torch.rand_like(x)

    return Noisy()
'''
HANGING = "hanging"  # the file beside zoo.py that hang() touches once it runs


def onnx_model(path: Path, op: str = "Relu") -> Path:
    """x -> op(x) with a dynamic batch dim."""
    nodes = [helper.make_node(op, ["x"], ["y"])]
    graph = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), path)
    return path


def make_zoo(folder: Path) -> Path:
    """Passing ONNX and Keras models, a PyTorch one its ONNX disagrees with, a segfault and a hang: the manifest."""
    (folder / "models").mkdir(parents=True)
    onnx_model(folder / "models" / "relu.onnx")
    onnx_model(folder / "models" / "tiny.onnx", op="Neg")
    shutil.copy(TF_DIR / "keras_cnn.keras", folder / "models" / "keras_cnn.keras")
    (folder / "zoo.py").write_text(ZOO_PY)
    manifest = folder / "manifest.yaml"
    manifest.write_text("""\
defaults: {targets: [onnx], samples: 1}
models:
  - model: models/tiny.onnx
  - model: models/relu.onnx
    targets: [onnx, pt2]
  - model: models/keras_cnn.keras
  - model: zoo.py:crash
  - model: zoo.py:hang
    options: {timeout: 4}
  - model: zoo.py:noisy
    input: ["x:2,4"]
    options: {rtol: 1e-4}
""")
    return manifest


@functools.cache
def can_unshare() -> bool:
    """Whether this user can make a private network namespace (root, or unprivileged user namespaces)."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True)
    return probe.returncode == 0


def isolated(command: list[str]) -> list[str]:
    """`command` inside a new network namespace with only loopback, when possible: Ray's gcs_server, raylet
    and workers listen on every interface even with _node_ip_address=127.0.0.1."""
    if not can_unshare():
        return command
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]


def graphtool(*args: str) -> list[str]:
    return [sys.executable, "-m", "converter", *args]


def environment(marker: str) -> dict:
    """The subprocess environment: this checkout importable, and a marker to find every process it starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(PYTHONPATH=str(ROOT), GRAPHTOOL_TEST_MARK=marker, TF_CPP_MIN_LOG_LEVEL="3",
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    return env


def marked_processes(marker: str) -> list[int]:
    """PIDs of live processes carrying GRAPHTOOL_TEST_MARK=marker (Ray passes the environment down)."""
    needle = f"GRAPHTOOL_TEST_MARK={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def marked_commands(marker: str) -> list[str]:
    """The command lines of the marked processes (Ray's gcs_server, raylet, ray::run_task, ...)."""
    commands = []
    for pid in marked_processes(marker):
        try:
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return commands


def sharing_our_network(marker: str) -> list[int]:
    """The marked processes in this process's network namespace, where they could listen beyond loopback."""
    ours = os.readlink("/proc/self/ns/net")
    found = []
    for pid in marked_processes(marker):
        try:
            if os.readlink(f"/proc/{pid}/ns/net") == ours:
                found.append(pid)
        except OSError:
            continue
    return found


def reap(marker: str, grace: float = HANG_S) -> list[int]:
    """Wait for the marked processes to exit; kill any left after `grace` by PID and return their PIDs."""
    deadline = time.monotonic() + grace
    while (left := marked_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    return left


def wait_until(condition: Callable[[], bool], what: str, process: subprocess.Popen | None = None,
               seconds: float = HANG_S) -> None:
    """Poll until `condition()` holds; fail naming `what` when `process` ends first or after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process ended first (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not after {seconds:g} s")
        time.sleep(0.1)


class Batch:
    """`graphtool batch ARGS` running in its own network namespace and TMPDIR: its stderr read line by line as it
    comes, so that a test can wait for a row. On leaving, what it started and is still running is stopped by PID
    (left_running), and what is left of its private Ray folder in its TMPDIR is listed (ray_left_in_tmp)."""

    def __init__(self, *args: str, marker: str):
        self.marker = marker
        self.tmp = Path(tempfile.mkdtemp(prefix="gt-tmp-", dir="/tmp"))  # Ray's socket paths must stay < 108 bytes
        self.process = subprocess.Popen(isolated(graphtool("batch", *args)), cwd=ROOT,
                                        env=environment(marker) | {"TMPDIR": str(self.tmp)},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc) -> None:
        halfway = self.process.poll() is None  # a test failed halfway: stop it all now
        if halfway:
            self.process.kill()
        self.process.wait()
        self.left_running = reap(self.marker, grace=0 if halfway else HANG_S)
        self.ray_left_in_tmp = sorted(p.name for p in self.tmp.glob("graphtool-ray-*"))  # the local cluster's
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def printed_row(self, model: str, target: str) -> bool:
        """Whether the row of (model, target) was printed, whatever its status: it is printed once recorded."""
        return any(f": {model} -> {target} (" in line for line in list(self.lines))

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        try:
            wait_until(condition, what, self.process)
        except AssertionError as error:
            raise AssertionError(f"{error}; its stderr:\n{self.stderr[-3000:]}") from None

    def stop(self, signum: int) -> int:
        """Send `signum` (SIGINT: what Ctrl-C sends), then wait for the exit and the end of its stderr."""
        self.process.send_signal(signum)  # unshare exec'd: this PID is graphtool
        returncode = self.process.wait(timeout=HANG_S)
        self._reader.join(timeout=HANG_S)
        return returncode
