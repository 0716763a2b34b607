"""Time the first-hour paths: `--version`, and `render` of Keras MobileNetV2 saved with model.export().

MobileNetV2 is built with random weights (weights=None: nothing is downloaded). Each render runs as a user's
`graphtool render` in its own process, so TensorFlow's import and the SavedModel's capture are counted; the
Graphviz layout alone is timed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPORT = '''
import keras
model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)
model.export("{path}")
'''


def _run(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        version = statistics.median(_run(["-m", "converter", "--version"], work) for _ in range(5))
        _run(["-c", EXPORT.format(path=work / "mobilenet_export")], work)
        render = []
        for k in range(args.runs):
            render.append(_run(["-m", "converter", "render", "mobilenet_export", "-o", f"m{k}.svg"], work))
        _run(["-m", "converter", "render", "mobilenet_export", "-o", "m.dot"], work)
        start = time.perf_counter()
        subprocess.run(["dot", "-Tsvg", "m.dot", "-o", "m_dot.svg"], cwd=work, check=True)
        layout = time.perf_counter() - start
    print("| step | time |")
    print("| --- | --- |")
    print(f"| `graphtool --version` (median of 5) | {version:.2f} s |")
    print(f"| `graphtool render` MobileNetV2 SavedModel (model.export()), median of {args.runs} | "
          f"{statistics.median(render):.1f} s |")
    print(f"| of which Graphviz's dot layout | {layout:.2f} s |")


if __name__ == "__main__":
    main()
