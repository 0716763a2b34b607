"""Every runtime of a ResNet-50, a BERT-class encoder and an EfficientNet-B0, side by side: `graphtool bench` on
each, timed whole.

Run: python benchmarks/bench_runtimes.py [--only resnet50|bert|efficientnet_b0] [--folder DIR] [--max-seconds S]
     [--threads N] [--targets LIST]
The models are benchmarks/runtime_models.py's (transformers configs or a timm-like module, random weights, batch
dim dynamic).
Each `graphtool bench` runs in its own process (converting to every target, validated, then timing each
runtime in a worker of its own at batch 1 and 8); its JSON lands in --folder and a markdown table of
p50 latency, ratio to the source, peak RSS and load time is printed, with the whole command's wall time
(goal: under 3 minutes per model on the 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "resnet50": ("benchmarks/runtime_models.py:resnet50", "pixel_values:batch,3,224,224"),
    "bert": ("benchmarks/runtime_models.py:bert", "input_ids:batch,128:int64"),
    "efficientnet_b0": ("benchmarks/runtime_models.py:efficientnet_b0", "x:batch,3,224,224"),
}


def run(name: str, folder: Path, max_seconds: float, extra: list[str]) -> dict:
    """`graphtool bench` on one model, in its own process; its report, and the command's wall time."""
    model, spec = MODELS[name]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "converter", "bench", model, "--input", spec, "--json",
                           "--max-seconds", str(max_seconds), "--samples", "1", "--html", str(folder / f"{name}.html"),
                           "--force", *extra], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{name}: graphtool bench failed: {done.stderr.strip().splitlines()[-1:]}")
    report = json.loads(done.stdout)
    (folder / f"{name}.json").write_text(done.stdout)
    return {"report": report, "seconds": seconds}


def table(name: str, measured: dict) -> str:
    report = measured["report"]
    lines = [f"{name}: whole command {measured['seconds']:.0f} s; " + "; ".join(report["notes"]), "",
             "| runtime | batch 1 p50 | x source | batch 8 p50 | x source | spread (1 / 8) | peak RSS | load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for runtime in report["runtimes"]:
        by_batch = {timing["batch"]: timing for timing in runtime["batches"]}
        cells = []
        for batch in (1, 8):
            timing = by_batch.get(batch, {})
            if timing.get("p50_ms") is None:
                cells += [runtime.get("error") or timing.get("error") or "-", ""]
            else:
                cells += [f"{timing['p50_ms']:.3g} ms", f"{timing['vs_source']:.2f}x"]
        spreads = " / ".join(f"{by_batch[b]['spread']:.1%}" if by_batch.get(b, {}).get("spread") is not None
                             else "-" for b in (1, 8))
        lines.append(f"| {runtime['label']} | {' | '.join(cells)} | {spreads} | "
                     f"{runtime.get('peak_rss_mb') or 0:.0f} MiB | {runtime.get('load_s') or 0:.2f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(MODELS))
    parser.add_argument("--folder", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--max-seconds", type=float, default=4.0)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--targets")
    options = parser.parse_args()
    extra = [*(["--threads", str(options.threads)] if options.threads else []),
             *(["--targets", options.targets] if options.targets else [])]
    options.folder.mkdir(parents=True, exist_ok=True)
    for name in [options.only] if options.only else list(MODELS):
        print(table(name, run(name, options.folder, options.max_seconds, extra)), "\n", flush=True)


if __name__ == "__main__":
    main()
