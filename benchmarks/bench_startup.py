"""Start-up cost: `graphtool --help` and `graphtool inspect model.onnx` next to `python -c pass`."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 10


def _median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _tiny_onnx(folder: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = folder / "relu.onnx"
    onnx.save(helper.make_model(graph), path)
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        model = _tiny_onnx(Path(folder))
        graphtool = [sys.executable, "-m", "converter"]
        baseline = _median_seconds([sys.executable, "-c", "pass"])
        rows = [
            ("python -c pass", baseline),
            ("graphtool --help", _median_seconds([*graphtool, "--help"])),
            ("graphtool inspect relu.onnx", _median_seconds([*graphtool, "inspect", str(model)])),
        ]
    print(f"median of {RUNS} runs each")
    for name, seconds in rows:
        print(f"{name:32s} {seconds:6.3f} s   {seconds / baseline:5.1f}x python -c pass   "
              f"(+{seconds - baseline:.3f} s)")


if __name__ == "__main__":
    main()
