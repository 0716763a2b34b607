"""Issue #25's MobileNetV2 check on trained weights: `graphtool convert --to tflite --precision P` of
precision_models.mobilenet_v2_trained (96x96, the 1000-class head, 10 classes used), its budget judged on 200
held-out gratings.

Run: python benchmarks/bench_mobilenet_int8.py [--folder DIR] [--precisions int8,int8-dynamic,fp16]
Training takes about 6 minutes on two CPU cores (once; the .keras file is kept in the folder). Calibration: 128
gratings of seed 1; held out: 200 of seed 2 (training used seeds 1000 and up). Prints, per precision: the verdict,
the budget's metrics, the size ratio and the latency ratios at batch 1 and 8 against the float32 .tflite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


def prepared(folder: Path) -> tuple[Path, Path, Path]:
    """The trained model, calibration and held-out .npz files in `folder`, made where missing."""
    from precision_models import gratings, mobilenet_v2_trained

    model, calibration, held_out = folder / "mobilenet_v2_trained.keras", folder / "calib.npz", folder / "held_out.npz"
    if not model.exists():
        mobilenet_v2_trained(model)
    np.savez(calibration, image=gratings(128, seed=1)[0])
    np.savez(held_out, image=gratings(200, seed=2)[0])
    return model, calibration, held_out


def convert(model: Path, calibration: Path, held_out: Path, precision: str, folder: Path) -> str:
    """One `graphtool convert` in its own process, summarized in a line."""
    command = [sys.executable, "-m", "converter", "convert", str(model), "--to", "tflite", "--precision", precision,
               "--calibration", str(calibration), "--eval", str(held_out), "-o", str(folder / f"{precision}.tflite"),
               "--force", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    result = json.loads(done.stdout)
    section = result["precision"]
    metrics = [f"{m['name']} {m['value']:.4f} (>= {m['threshold']})" for device in result["validation"]["devices"]
               for output in device["outputs"] for m in output["metrics"]]
    latency = ", ".join(f"batch {batch} x{row['ratio']:.2f}" for batch, row in section["latency_ms"].items())
    return (f"{precision}: {'PASS' if result['passed'] else 'FAIL'}; {'; '.join(metrics)}; size "
            f"{section['size_bytes']}/{section['float_size_bytes']} = x{section['size_ratio']:.3f}; latency {latency}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "graphtool-mobilenet-int8")
    parser.add_argument("--precisions", default="int8,int8-dynamic,fp16")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    files = prepared(args.folder)
    for precision in args.precisions.split(","):
        print(convert(*files, precision, args.folder), flush=True)


if __name__ == "__main__":
    main()
