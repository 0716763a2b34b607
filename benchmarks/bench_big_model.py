"""A model past protobuf's 2 GB: an MLP of four Linear layers (2.4 GB of float32 weights) through every path.

The module is built once and saved as a .pt2 under --folder; each step is one `graphtool convert` in its own
process, timed, with peak RSS from /usr/bin/time -v (or getrusage of the child where that is missing):
  pt2 -> onnx (external data beside it), onnx -> savedmodel, onnx -> pt2, each validated.
Goal: peak RSS under 2x the weight size plus 1 GiB. `--hidden 2048` runs the same steps small.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mlp(hidden: int) -> object:
    """Four Linear(hidden, hidden) layers with ReLUs between; seeded."""
    import torch

    torch.manual_seed(0)
    layers = []
    for index in range(4):
        layers.append(torch.nn.Linear(hidden, hidden))
        if index < 3:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def build(hidden: int, path: Path) -> int:
    """Save the MLP as an ExportedProgram; returns its weight bytes."""
    import torch

    module = mlp(hidden)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(module, (torch.randn(2, hidden),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return sum(p.numel() * p.element_size() for p in module.parameters())


def measure(args: list[str]) -> dict:
    """Run `python -m converter ARGS` in its own process: wall time, peak RSS, exit code, the output's tail."""
    command = [sys.executable, "-m", "converter", "--verbose", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    start = time.perf_counter()
    done = subprocess.run(timer + command, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    peak_kib = int(found.group(1)) if found else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    timings = next((line for line in done.stdout.splitlines() if line.startswith("time:")), "")
    return {"args": " ".join(args), "exit": done.returncode, "seconds": round(seconds, 1),
            "peak_gib": round(peak_kib / 2**20, 2), "stages": timings,
            "error": "" if done.returncode == 0 else (done.stderr.strip().splitlines() or [""])[0][:300]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=12288, help="layer width (12288: 2.4 GB of weights)")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/graphtool-big-model"))
    parser.add_argument("--targets", default="onnx,savedmodel,pt2")
    options = parser.parse_args()
    folder = options.folder
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"mlp{options.hidden}.pt2"
    weights = (4 * options.hidden * (options.hidden + 1)) * 4
    if not source.exists():
        start = time.perf_counter()
        weights = build(options.hidden, source)
        print(f"built {source} ({weights / 2**30:.2f} GiB of weights) in {time.perf_counter() - start:.0f} s")
    goal = 2 * weights / 2**30 + 1
    onnx_path = folder / f"mlp{options.hidden}.onnx"
    rows = []
    for target in options.targets.split(","):
        if target == "onnx":
            args = ["convert", str(source), "--to", "onnx", "-o", str(onnx_path), "--force"]
        else:
            output = folder / f"mlp{options.hidden}_{target}"
            args = ["convert", str(onnx_path), "--to", target, "-o", str(output), "--force"]
        row = measure(args)
        row["target"] = target
        row["peak_vs_goal"] = round(row["peak_gib"] / goal, 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if target != "onnx":
            shutil.rmtree(folder / f"mlp{options.hidden}_{target}", ignore_errors=True)
            (folder / f"mlp{options.hidden}_{target}").unlink(missing_ok=True)
    print(f"\nweights {weights / 2**30:.2f} GiB; goal: peak under {goal:.2f} GiB (2x weights + 1 GiB)")
    print("| step | exit | time | peak RSS | vs goal |\n| --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['target']} | {row['exit']} | {row['seconds']} s | {row['peak_gib']} GiB | "
              f"{row['peak_vs_goal']}x |")


if __name__ == "__main__":
    main()
