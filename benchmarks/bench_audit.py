"""What the graph audit adds to loading: its time on each fixture format, beside the full load it precedes."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from converter import api  # noqa: E402

MODELS = {
    "SavedModel (Keras CNN)": (ROOT / "fixtures/tf/keras_cnn_savedmodel", {}),
    "SavedModel (Keras LSTM)": (ROOT / "fixtures/tf/keras_lstm_savedmodel", {}),
    "TorchScript (encoder)": (ROOT / "fixtures/torch/encoder.ts", {"input_specs": ("x:batch,seq,32",)}),
    "ExportedProgram (encoder)": (ROOT / "fixtures/torch/encoder.pt2", {}),
}


def _median(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    print("| model | nodes audited | audit | full load (audit included) | share |")
    print("| --- | --- | --- | --- | --- |")
    for name, (path, fields) in MODELS.items():
        audit = api.audit(str(path))  # warm: framework imports are not the audit's cost
        api.load(str(path), **fields)
        audit_s = _median(lambda path=path: api.audit(str(path)), 5)
        load_s = _median(lambda path=path, fields=fields: api.load(str(path), **fields), 3)
        nodes = sum(audit.op_counts.values())
        print(f"| {name} | {nodes:,} | {audit_s * 1000:.1f} ms | {load_s:.2f} s | {audit_s / load_s:.1%} |")


if __name__ == "__main__":
    main()
