"""Whole `graphtool inspect`, `diff` and (folded) `render` commands on 10k, 30k and 100k-node models.

The models are tests/graph_models.layered_model: a chain of residual blocks in nested scopes
('stage.I/block.J/fc1'), as a deep transformer export looks; the diff's other side has every name
changed and an edit every 50 blocks. Each command runs in its own process; wall time and peak RSS
(/usr/bin/time -v). Goals: diff and render under 10 s, inspect under 2 s, peak under 1 GiB at 100k.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import onnx  # noqa: E402
from graph_models import layered_model, rename_all  # noqa: E402

SIZES = (10_000, 30_000, 100_000)


def run(args: list[str]) -> dict:
    """`python -m converter ARGS` in its own process: seconds, peak MiB, exit code."""
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run(timer + [sys.executable, "-m", "converter", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return {"seconds": round(seconds, 2), "cpu_s": _cpu(done.stderr),
            "peak_mib": int(found.group(1)) // 1024 if found else None, "exit": done.returncode,
            "error": "" if done.returncode in (0, 1) else done.stderr.strip().splitlines()[-1][:200]}


def _cpu(stderr: str) -> float | None:
    """User plus system seconds from /usr/bin/time -v: less swayed than wall time by other tenants' load."""
    found = [float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", stderr)]
    return round(sum(found), 2) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/graphtool-graph-scale"))
    options = parser.parse_args()
    options.folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in options.sizes:
        a, b = options.folder / f"a{size}.onnx", options.folder / f"b{size}.onnx"
        if not a.exists() or not b.exists():
            onnx.save_model(layered_model(size), str(a))
            onnx.save_model(rename_all(layered_model(size, edit_every=50), seed=1), str(b))
        svg = options.folder / f"a{size}.svg"
        commands = {
            "inspect": ["inspect", str(a)],
            "diff": ["diff", str(a), str(b), "--json"],
            "render": ["render", str(a), "-o", str(svg), "--force"],
        }
        for name, args in commands.items():
            row = {"nodes": size, "command": name, **run(args)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\nwall (CPU) seconds, whole commands")
    print("| nodes | inspect | diff | render (folded) | peak RSS (diff) |\n| --- | --- | --- | --- | --- |")
    for size in options.sizes:
        by = {r["command"]: r for r in rows if r["nodes"] == size}
        cells = [f"{by[c]['seconds']} s ({by[c]['cpu_s']} s)" for c in ("inspect", "diff", "render")]
        print(f"| {size:,} | {' | '.join(cells)} | {by['diff']['peak_mib']} MiB |")


if __name__ == "__main__":
    main()
