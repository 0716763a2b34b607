"""graphtool batch on a real local Ray cluster: isolation of crashes and hangs, failing rows, resume, --address."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from batch_helpers import (
    HANG_S,
    HANGING,
    Batch,
    can_unshare,
    environment,
    graphtool,
    isolated,
    make_zoo,
    marked_commands,
    onnx_model,
    reap,
    sharing_our_network,
)
from conftest import ROOT

pytestmark = pytest.mark.external
pytest.importorskip("ray", reason="the batch extra (pip install 'graphtool[batch]') is not installed")


def _run(args: list[str], marker: str) -> subprocess.CompletedProcess:
    return subprocess.run(isolated(graphtool(*args)), cwd=ROOT, env=environment(marker), capture_output=True,
                          text=True, timeout=HANG_S)


def _rows(results: Path) -> dict[tuple[str, str], dict]:
    summary = json.loads((results / "summary.json").read_text())
    return {(row["model"], row["target"]): row for row in summary["rows"]}


def _free_port() -> int:
    # outside Ray's worker port range (10002-19999), which a head refuses
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not 10002 <= port <= 19999:
            return port


# A task that hangs until interrupted: its own timeout is the bound on a hang, far beyond any wait here.
_HANG_LONG = f"  - {{model: 'zoo.py:hang', name: hang-long, options: {{timeout: {HANG_S}}}}}\n"

# The batch starts once the head says it is up (its GCS and raylet both), however long that takes here.
HEAD_SCRIPT = """
set -u
ray start --head --block --port "$PORT" --node-ip-address 127.0.0.1 --include-dashboard=false --num-cpus 2 \
    --disable-usage-stats --temp-dir "$RAY_TMP" >"$RAY_TMP/head.log" 2>&1 &
HEAD=$!
until grep -q "Ray runtime started" "$RAY_TMP/head.log"; do
    kill -0 "$HEAD" 2>/dev/null && [ "$SECONDS" -lt "$HANG_S" ] || { cat "$RAY_TMP/head.log" >&2; exit 3; }
    sleep 0.2
done
"$@"
STATUS=$?
kill -TERM "$HEAD"; wait "$HEAD"
exit $STATUS
"""


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """One batch over the zoo, shared by the tests of this module. It joins a `ray start --head` on 127.0.0.1
    with --address (one cluster start for both: the private local cluster is the resume test's)."""
    folder = tmp_path_factory.mktemp("zoo")
    manifest = make_zoo(folder)
    port, marker = _free_port(), uuid.uuid4().hex
    ray_tmp = Path(tempfile.mkdtemp(prefix="gt-ray-", dir="/tmp"))  # Ray's socket paths must stay < 108 bytes
    env = environment(marker) | {"PORT": str(port), "RAY_TMP": str(ray_tmp), "HANG_S": str(HANG_S)}
    command = ["bash", "-c", HEAD_SCRIPT, "head", *graphtool("batch", str(manifest), "-o", str(folder / "out"),
                                                             "--address", f"127.0.0.1:{port}", "--workers", "2",
                                                             "--timeout", str(HANG_S))]
    try:
        done = subprocess.run(isolated(command), cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=3 * HANG_S)  # the head's start, the batch, the head's stop
    except subprocess.TimeoutExpired:
        reap(marker, grace=0)
        raise
    left = reap(marker)  # the head was stopped by its PID; nothing it started may be left
    head_log = (ray_tmp / "head.log").read_text()[-2000:] if (ray_tmp / "head.log").exists() else ""
    shutil.rmtree(ray_tmp, ignore_errors=True)
    yield {"folder": folder, "manifest": manifest, "out": folder / "out", "done": done, "left": left,
           "marker": marker, "port": port, "head_log": head_log}
    reap(marker, grace=0)


def test_every_row_says_what_happened(zoo):
    done = zoo["done"]
    assert done.returncode == 1, done.stderr[-3000:] + zoo["head_log"]  # a failed and two errored rows
    summary = json.loads((zoo["out"] / "summary.json").read_text())
    assert summary["cluster"]["address"] == f"127.0.0.1:{zoo['port']}" and summary["cluster"]["cpus"] == 2
    rows = _rows(zoo["out"])
    passing = {("models/tiny.onnx", "onnx"), ("models/relu.onnx", "onnx"), ("models/relu.onnx", "pt2"),
               ("models/keras_cnn.keras", "onnx")}
    assert set(rows) == passing | {("zoo.py:crash", "onnx"), ("zoo.py:hang", "onnx"), ("zoo.py:noisy", "onnx")}
    for key in passing:
        assert rows[key]["status"] == "pass", rows[key]
        assert rows[key]["max_abs_error"] is not None and rows[key]["max_abs_error"] < 1e-4
    crash = rows[("zoo.py:crash", "onnx")]
    assert crash["status"] == "error" and crash["reason"].startswith("crashed: its worker process died")
    assert "attempt 2" in crash["reason"]  # a lost worker is retried once, then the row says so
    hang = rows[("zoo.py:hang", "onnx")]
    assert hang["status"] == "error" and hang["reason"].startswith("timed out: still running after 4 s")
    assert 4 <= hang["seconds"] < HANG_S  # its own options.timeout, not the batch's --timeout
    noisy = rows[("zoo.py:noisy", "onnx")]
    assert noisy["status"] == "fail" and "differs" in noisy["reason"] and noisy["max_abs_error"] > 1e-3


def test_each_task_ran_in_its_own_worker_process(zoo):
    documents = [json.loads(p.read_text()) for p in (zoo["out"] / "results").glob("*.json")]
    assert len(documents) == 7
    pids = [d["pid"] for d in documents if "pid" in d]
    assert len(pids) == 5 and len(set(pids)) == 5 and os.getpid() not in pids
    passed = [d for d in documents if d["row"]["status"] == "pass"]
    for document in passed:  # the same report as `convert --json`, validation schema included
        assert document["convert"]["passed"] is True
        assert document["convert"]["validation"]["schema"] == "graphtool.validate/1"
        assert Path(document["convert"]["output"]).exists()


def test_summary_files_and_terminal_table(zoo):
    markdown = (zoo["out"] / "summary.md").read_text()
    assert "7 rows: 4 pass, 1 fail, 2 error" in markdown
    assert "| zoo.py:hang | onnx | error |" in markdown
    assert "batch summary" in zoo["done"].stdout and "4 pass, 1 fail, 2 error" in zoo["done"].stdout
    assert "Traceback" not in zoo["done"].stderr


def test_no_ray_process_outlives_the_batch(zoo):
    assert zoo["left"] == [], f"Ray processes still running after the batch and the head stopped: {zoo['left']}"


def test_resume_reruns_only_what_changed_and_ctrl_c_keeps_what_finished(zoo):
    results = zoo["out"] / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    marker = uuid.uuid4().hex
    done = _run(["batch", str(zoo["manifest"]), "-o", str(zoo["out"]), "--resume", "--json"], marker)
    assert reap(marker) == []
    assert done.returncode == 1, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert all(row["resumed"] for row in summary["rows"]) and len(summary["rows"]) == 7
    assert summary["cluster"] == {}  # nothing to run: no cluster was even started
    assert {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")} == before

    # New content for one model, a new model and one that hangs, on a private local cluster of one worker
    # that runs task after task (--reuse-workers); Ctrl-C once the two quick ones are recorded and the hanging
    # one runs.
    onnx_model(zoo["folder"] / "models" / "tiny.onnx", op="Sigmoid")
    onnx_model(zoo["folder"] / "models" / "extra.onnx", op="Abs")
    more = zoo["folder"] / "more.yaml"
    more.write_text(zoo["manifest"].read_text() + "  - model: models/extra.onnx\n" + _HANG_LONG)
    hanging = zoo["folder"] / HANGING
    hanging.unlink(missing_ok=True)  # the batch of the fixture hung there too
    with Batch(str(more), "-o", str(zoo["out"]), "--resume", "--workers", "1", "--reuse-workers",
               marker=marker) as batch:
        batch.wait_until(lambda: batch.printed_row("models/tiny.onnx", "onnx")
                         and batch.printed_row("models/extra.onnx", "onnx") and hanging.exists(),
                         "the two quick rows recorded, the hanging task running")
        assert not can_unshare() or sharing_our_network(marker) == []  # Ray's ports are on its loopback only
        returncode = batch.stop(signal.SIGINT)
    stderr = batch.stderr
    assert batch.left_running == [] and batch.ray_left_in_tmp == []
    assert returncode == 130, stderr[-2000:]
    assert "interrupted; finished results are kept" in stderr and "Traceback" not in stderr
    summary = json.loads((zoo["out"] / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["cluster"]["address"] == "local (127.0.0.1)" and summary["cluster"]["cpus"] == 1
    rows = {(r["model"], r["target"]): r for r in summary["rows"]}
    assert ("hang-long", "onnx") not in rows  # in flight at Ctrl-C: no row, no result file
    rerun = {key for key, row in rows.items() if not row["resumed"]}
    assert rerun == {("models/tiny.onnx", "onnx"), ("models/extra.onnx", "onnx")}
    assert all(rows[key]["status"] == "pass" for key in rerun) and len(rows) == 8
    after = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert {name: after[name] for name in before} == before  # nothing finished was run or written again
    new = [json.loads((results / name).read_text()) for name in set(after) - set(before)]
    assert sorted(d["task"]["model"] for d in new) == ["models/extra.onnx", "models/tiny.onnx"]
    assert len({d["pid"] for d in new}) == 1  # --reuse-workers: one worker ran both tasks


@pytest.mark.parametrize(("signum", "moment"), [(signal.SIGINT, "starting"), (signal.SIGTERM, "running")],
                         ids=["ctrl-c-while-the-cluster-starts", "sigterm-while-a-task-runs"])
def test_an_interrupt_at_any_moment_keeps_what_finished(zoo, tmp_path, signum, moment):
    """Ctrl-C while the local cluster is still starting (before the batch's loop), or SIGTERM (what a job
    scheduler sends, which Ray would take over) while a task runs: the finished rows are kept, exit 130, and
    nothing of Ray is left, running or in the temporary folder."""
    out = tmp_path / "out"
    shutil.copytree(zoo["out"] / "results", out / "results")
    manifest = zoo["folder"] / "interrupt.yaml"
    manifest.write_text(zoo["manifest"].read_text() + _HANG_LONG)  # every row resumed but the hanging one
    hanging = zoo["folder"] / HANGING
    hanging.unlink(missing_ok=True)
    marker = uuid.uuid4().hex

    def moment_came() -> bool:
        if moment == "running":
            return hanging.exists()
        # ray.init is under way, with processes of its own already started
        return any(command.split(" ", 1)[0].endswith("/raylet") for command in marked_commands(marker))

    with Batch(str(manifest), "-o", str(out), "--resume", "--workers", "1", marker=marker) as batch:
        batch.wait_until(moment_came, f"the batch {moment}")
        returncode = batch.stop(signum)
    assert batch.left_running == [] and batch.ray_left_in_tmp == []
    assert returncode == 130, batch.stderr[-2000:]
    assert "interrupted; finished results are kept" in batch.stderr and "Traceback" not in batch.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and len(summary["rows"]) == 7
    assert all(row["resumed"] for row in summary["rows"])


# A zoo kept in one models file: three factories of different widths, each its own row.
MLPS_PY = """
import torch

def _mlp(width):
    return torch.nn.Sequential(torch.nn.Linear(4, width), torch.nn.ReLU(), torch.nn.Linear(width, 2))

def narrow():
    return _mlp(3)

def middle():
    return _mlp(5)

def wide():
    return _mlp(7)
"""


def test_factories_of_one_file_run_as_rows_of_their_own_and_resume_apart(tmp_path):
    import onnx

    (tmp_path / "mlps.py").write_text(MLPS_PY)
    manifest = tmp_path / "mlps.yaml"
    manifest.write_text('defaults: {targets: [onnx], samples: 1, input: ["input:2,4"]}\n'
                        "models: [mlps.py:narrow, mlps.py:middle, mlps.py:wide]\n")
    out, marker = tmp_path / "out", uuid.uuid4().hex
    done = _run(["batch", str(manifest), "-o", str(out), "--workers", "1", "--reuse-workers"], marker)
    assert reap(marker) == []
    assert (out / "summary.json").exists(), done.stderr[-2000:]
    rows = _rows(out)
    assert done.returncode == 0, [row["reason"] for row in rows.values()]
    widths = {"mlps.py:narrow": 3, "mlps.py:middle": 5, "mlps.py:wide": 7}
    assert set(rows) == {(model, "onnx") for model in widths}
    assert all(row["status"] == "pass" for row in rows.values()) and len({r["key"] for r in rows.values()}) == 3
    results = out / "results"
    documents = {d["task"]["model"]: d for d in (json.loads(p.read_text()) for p in results.glob("*.json"))}
    assert set(documents) == set(widths)
    for model, width in widths.items():  # each row converted its own factory: its first layer's weight
        artifact = onnx.load(documents[model]["convert"]["output"])
        assert (width, 4) in {tuple(t.dims) for t in artifact.graph.initializer}, model

    before = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    marker = uuid.uuid4().hex
    done = _run(["batch", str(manifest), "-o", str(out), "--resume", "--json"], marker)
    assert reap(marker) == []
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert len(summary["rows"]) == 3 and all(row["resumed"] for row in summary["rows"])
    assert summary["cluster"] == {}  # nothing to run: no cluster was even started
    assert {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")} == before
