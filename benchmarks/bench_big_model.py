"""A model past protobuf's 2 GB: an MLP of four Linear layers (2.4 GB of float32 weights) through every path.

The module is built once and saved as a .pt2 under --folder; each step is one `graphtool convert` in its own
process, timed, with peak RSS from /usr/bin/time -v (or getrusage of the child where that is missing):
  pt2 -> onnx (external data beside it), onnx -> savedmodel, onnx -> pt2, and the whole path in one command,
  pt2 -> savedmodel and py -> savedmodel (a file.py:factory building the module), the source traced, exported
  and validated against torch; each validated.
Goal: peak RSS under 2x the weight size plus 1 GiB. `--hidden 2048` runs the same steps small; `--baseline DIR`
runs each step with another checkout's converter too, right before this one's (before/after side by side).
"""

from __future__ import annotations

import argparse
import inspect
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


def write_factory(hidden: int, path: Path) -> str:
    """A file.py:model factory returning the same MLP and an example input; its reference for `convert`."""
    path.write_text(f"{inspect.getsource(mlp)}\n\ndef model():\n    import torch\n\n"
                    f"    return mlp({hidden}), (torch.randn(2, {hidden}),)\n")
    return f"{path}:model"


def measure(args: list[str], root: Path = ROOT) -> dict:
    """Run `python -m converter ARGS` (from the checkout at `root`) in its own process: wall and CPU time, peak RSS,
    exit code, the output's tail."""
    command = [sys.executable, "-m", "converter", "--verbose", *args]
    env = {**os.environ, "PYTHONPATH": str(root)}
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    start = time.perf_counter()
    done = subprocess.run(timer + command, capture_output=True, text=True, env=env, cwd=root)
    seconds = time.perf_counter() - start
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    peak_kib = int(found.group(1)) if found else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cpu = sum(float(t) for t in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr))
    timings = next((line for line in done.stdout.splitlines() if line.startswith("time:")), "")
    return {"args": " ".join(args), "exit": done.returncode, "seconds": round(seconds, 1), "cpu": round(cpu, 1),
            "peak_gib": round(peak_kib / 2**20, 2), "stages": timings,
            "error": "" if done.returncode == 0 else (done.stderr.strip().splitlines() or [""])[0][:300]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=12288, help="layer width (12288: 2.4 GB of weights)")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/graphtool-big-model"))
    parser.add_argument("--baseline", type=Path, help="another checkout: each step runs with it too, just before")
    parser.add_argument("--targets", default="onnx,savedmodel,pt2,pt2-savedmodel",
                        help="steps: onnx (from the .pt2), savedmodel and pt2 (from that ONNX), pt2-savedmodel "
                        "(straight from the .pt2), py-savedmodel (straight from a factory; py-onnx and so on too)")
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
        output = folder / f"mlp{options.hidden}_{target}"
        if target == "onnx":
            args = ["convert", str(source), "--to", "onnx", "-o", str(onnx_path), "--force"]
        elif target.startswith("pt2-"):
            args = ["convert", str(source), "--to", target.removeprefix("pt2-"), "-o", str(output), "--force"]
        elif target.startswith("py-"):
            factory = write_factory(options.hidden, folder / f"mlp{options.hidden}_factory.py")
            args = ["convert", factory, "--to", target.removeprefix("py-"), "-o", str(output), "--force"]
        else:
            args = ["convert", str(onnx_path), "--to", target, "-o", str(output), "--force"]
        trees = [("baseline", options.baseline.resolve())] if options.baseline else []
        for tree, root in [*trees, ("this", ROOT)]:
            row = {"target": target, "tree": tree, **measure(args, root)}
            row["peak_vs_goal"] = round(row["peak_gib"] / goal, 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if target != "onnx":  # the ONNX file is the next steps' source
                shutil.rmtree(output, ignore_errors=True)
                output.unlink(missing_ok=True)
                output.with_name(output.name + ".data").unlink(missing_ok=True)
    print(f"\nweights {weights / 2**30:.2f} GiB; goal: peak under {goal:.2f} GiB (2x weights + 1 GiB)")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| step | tree | exit | wall (CPU) | peak RSS | vs goal |\n| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['target']} | {row['tree']} | {row['exit']} | {row['seconds']} s ({row['cpu']} s) | "
              f"{row['peak_gib']} GiB | {row['peak_vs_goal']}x |")


if __name__ == "__main__":
    main()
