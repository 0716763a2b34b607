"""What each (target, precision) buys and costs on four model families: `graphtool convert --precision` on each,
the float32 artifact of the same target beside it.

Run: python benchmarks/bench_precision.py [--only NAME[,NAME]] [--pairs onnx:int8,tflite:fp16,...] [--folder DIR]
The models are benchmarks/precision_models.py's (configs or keras.applications, random weights with batch norms
set from calibration-like inputs; MobileNetV2's classifier fitted to clusters of its features, its inputs seeded
textures, so that its decisions have margins). Calibration: 32 seeded rows; the budget is judged on held-out rows
of another seed (200 for MobileNetV2, 64 for the others). Each conversion runs in its own process; the table gives
the size ratio, the latency ratio at batch 1 and 8 (medians of interleaved calls of the two artifacts in one process,
so they share the machine's state), the budget's metric and verdict, and the whole command's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

ALL_PAIRS = ("onnx:fp16", "onnx:int8-dynamic", "onnx:int8", "tflite:fp16", "tflite:int8-dynamic", "tflite:int8",
             "savedmodel:fp16", "savedmodel:bf16", "pt2:fp16", "pt2:bf16")
# name -> (source, --input spec or None, data kind, held-out rows)
MODELS = {
    "mobilenet_v2": (None, None, "texture_nhwc", 200),
    "resnet50": ("benchmarks/precision_models.py:calibrated_resnet50", "pixel_values:batch,3,224,224", "image_nchw",
                 64),
    "bert": ("benchmarks/precision_models.py:bert", "input_ids:batch,128:int64", "ids", 64),
    "vit": ("benchmarks/precision_models.py:vit", "pixel_values:batch,3,224,224", "image_nchw", 64),
}


def convert(name: str, pair: str, folder: Path) -> dict:
    """`graphtool convert --precision` of one model to one target, in its own process: its JSON and wall time."""
    from precision_models import data, mobilenet_v2_keras

    source, spec, kind, rows = MODELS[name]
    target, precision = pair.split(":")
    if source is None:
        keras_file = folder / "mobilenet_v2.keras"
        source = str(keras_file if keras_file.exists() else mobilenet_v2_keras(keras_file))
    calibration, held_out = folder / f"{name}.calibration.npz", folder / f"{name}.eval.npz"
    if not calibration.exists():
        np.savez(calibration, **data(kind, 32, seed=1))
        np.savez(held_out, **data(kind, rows, seed=2))
    output = folder / f"{name}.{precision}.{target}"
    command = [sys.executable, "-m", "converter", "convert", source, "--to", target, "--precision", precision,
               "--eval", str(held_out), "-o", str(output), "--force", "--json", "--samples", "1"]
    if precision == "int8":
        command += ["--calibration", str(calibration)]
    if spec:
        command += ["--input", spec]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1], "seconds": seconds}
    return {"report": json.loads(done.stdout), "seconds": seconds}


def row(name: str, pair: str, measured: dict) -> str:
    if "error" in measured:
        return f"| {name} | {pair} | refused: {measured['error']} | | | | | {measured['seconds']:.0f} s |"
    report = measured["report"]
    precision = report["precision"]
    latency = precision["latency_ms"]
    ratios = [f"{latency[b]['ratio']:.2f}" if b in latency else "-" for b in ("1", "8")]
    metrics = [f"{m['name']} {m['value']:.4f}" for output in report["validation"]["devices"][0]["outputs"][:1]
               for m in output.get("metrics", [])]
    size = f"{precision['size_ratio']:.2f}" if precision["size_ratio"] else "-"
    verdict = "PASSED" if report["passed"] else "FAILED"
    kept = len(precision["kept_float"])
    return (f"| {name} | {pair} | {size} | {ratios[0]} | {ratios[1]} | {', '.join(metrics) or '-'} | {verdict}"
            f"{f' ({kept} kept)' if kept else ''} | {measured['seconds']:.0f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(MODELS))
    parser.add_argument("--pairs", default=",".join(ALL_PAIRS))
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="graphtool-precision-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("| model | target:precision | size x float32 | latency b1 x float32 | latency b8 x float32 | budget metric "
          "(first output) | verdict | whole command |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.only.split(","):
        for pair in args.pairs.split(","):
            print(row(name, pair, convert(name, pair, folder)), flush=True)


if __name__ == "__main__":
    main()
