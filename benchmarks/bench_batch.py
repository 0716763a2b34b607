"""graphtool batch: a small zoo with 1 and 2 Ray workers, Ray's own cost per task, and the same work in one process.

python benchmarks/bench_batch.py [--repeat N]   (prints a Markdown table; needs graphtool[all])
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

MANIFEST = """\
defaults: {targets: [onnx], samples: 2}
models:
  - model: models/relu.onnx
    targets: [onnx, pt2]
  - model: models/mlp.pt2
  - model: models/cnn.pt2
  - model: models/keras_cnn.keras
  - model: models/keras_two_io.keras
"""


def make_zoo(folder: Path) -> Path:
    from batch_helpers import onnx_model

    (folder / "models").mkdir(parents=True)
    onnx_model(folder / "models" / "relu.onnx")
    for name in ("mlp.pt2", "cnn.pt2"):
        shutil.copy(ROOT / "fixtures" / "torch" / name, folder / "models" / name)
    for name in ("keras_cnn.keras", "keras_two_io.keras"):
        shutil.copy(ROOT / "fixtures" / "tf" / name, folder / "models" / name)
    (folder / "manifest.yaml").write_text(MANIFEST)
    return folder / "manifest.yaml"


def batch_seconds(manifest: Path, workers: int, out: Path, *flags: str) -> tuple[float, dict]:
    """Wall time of `graphtool batch` in a fresh process, cluster start and stop included."""
    from batch_helpers import graphtool, isolated

    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(isolated(graphtool("batch", str(manifest), "-o", str(out), "--workers", str(workers),
                                             "--json", *flags)), env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    summary = json.loads(done.stdout)
    if not summary["passed"]:
        raise SystemExit(f"the benchmark zoo did not pass: {summary['rows']}")
    return seconds, summary


def serial_seconds(manifest: Path, out: Path) -> float:
    """The same tasks one after another in one process (imports paid once), as a loop over api.convert would."""
    code = f"""
import sys, time
sys.path.insert(0, {str(ROOT)!r})
t = time.perf_counter()
from pathlib import Path
from converter.batch import read_manifest
from converter.batch.tasks import run_task
for task in read_manifest(Path({str(manifest)!r})).tasks:
    row = run_task({{**task.to_dict(), "slug": task.slug}}, {str(out)!r})["row"]
    assert row["status"] == "pass", row
print(time.perf_counter() - t)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


RAY_OVERHEAD = """
import json, sys, tempfile, time
sys.path.insert(0, {root!r})
from converter.batch.cluster import ray_cluster
t = time.perf_counter()
with ray_cluster(None, 2):
    import ray
    started = time.perf_counter() - t
    def noop():
        return 0
    fresh = ray.remote(num_cpus=1, max_calls=1, max_retries=0)(noop)
    warm = ray.remote(num_cpus=1)(noop)
    ray.get([warm.remote() for _ in range(4)])
    t = time.perf_counter(); ray.get([fresh.remote() for _ in range({n})]); fresh_s = (time.perf_counter() - t) / {n}
    t = time.perf_counter(); ray.get([warm.remote() for _ in range({n})]); warm_s = (time.perf_counter() - t) / {n}
    t = time.perf_counter()
stopped = time.perf_counter() - t
print(json.dumps({{"start": started, "stop": stopped, "fresh": fresh_s, "warm": warm_s}}))
"""


def ray_overhead(tasks: int = 20) -> dict:
    """Per-task cost of an empty task in a fresh worker process (what batch uses) and in a reused one."""
    from batch_helpers import isolated

    done = subprocess.run(isolated([sys.executable, "-c", RAY_OVERHEAD.format(root=str(ROOT), n=tasks)]),
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (the median is shown)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        manifest = make_zoo(folder)
        rows = len(__import__("converter.batch", fromlist=["read_manifest"]).read_manifest(manifest).tasks)
        one = statistics.median(batch_seconds(manifest, 1, folder / "out1")[0] for _ in range(args.repeat))
        two = statistics.median(batch_seconds(manifest, 2, folder / "out2")[0] for _ in range(args.repeat))
        reused = statistics.median(batch_seconds(manifest, 2, folder / "out3", "--reuse-workers")[0]
                                   for _ in range(args.repeat))
        serial = statistics.median(serial_seconds(manifest, folder / "serial") for _ in range(args.repeat))
        overhead = ray_overhead()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{rows} (model, target) rows, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    print("| run | wall time | per row |\n| --- | --- | --- |")
    for label, seconds in (("one process, one after another (api.convert loop)", serial),
                           ("`graphtool batch --workers 1`", one), ("`graphtool batch --workers 2`", two),
                           ("`graphtool batch --workers 2 --reuse-workers`", reused)):
        print(f"| {label} | {seconds:.1f} s | {seconds / rows:.1f} s |")
    print(f"\n2 workers vs 1: {one / two:.2f}x faster; batch --workers 1 vs one process: {one / serial:.2f}x")
    print(f"Ray: local cluster start {overhead['start']:.1f} s, stop {overhead['stop']:.1f} s; "
          f"an empty task {overhead['fresh'] * 1000:.0f} ms in a fresh worker process (max_calls=1, as batch runs), "
          f"{overhead['warm'] * 1000:.1f} ms in a reused one")


if __name__ == "__main__":
    main()
