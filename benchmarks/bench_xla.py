"""Does XLA (`jit_compile=True`) bring converted SavedModels within 1.1x of onnxruntime?

Run: python benchmarks/bench_xla.py [--runs N] [--only resnet50|bert]
The models are tf_speed.py's (ResNet-50, the 4-layer BERT-class encoder). Each is converted with
write_savedmodel, loaded back, and its serving signature timed three ways in alternating blocks:
onnxruntime on the ONNX, the SavedModel as saved, and the same signature under tf.function(jit_compile=True).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

from tf_speed import _bert, _interleaved_ms, _resnet50  # noqa: E402

MODELS = {"resnet50": _resnet50, "bert": _bert}


def measure(name: str, runs: int) -> list[dict]:
    """Median ms of onnxruntime, the SavedModel and the SavedModel under XLA, at batch 1 and 8."""
    import tensorflow as tf

    from converter.core.runners import ort_runner
    from converter.targets.savedmodel import SIGNATURE_KEY, write_savedmodel

    model, make_inputs = MODELS[name]()
    session = ort_runner(model)
    directory = Path(tempfile.mkdtemp()) / name
    result = write_savedmodel(model, directory)
    saved = tf.saved_model.load(str(directory))  # kept: the signature's variables live as long as it does
    serving = saved.signatures[SIGNATURE_KEY]
    xla = tf.function(lambda **feeds: serving(**feeds), jit_compile=True)
    rows = []
    for batch in (1, 8):
        feeds = make_inputs(batch)
        tf_feeds = {result.inputs[k]: tf.constant(v) for k, v in feeds.items()}
        start = time.perf_counter()
        xla(**tf_feeds)  # compile once, outside the timing
        compile_s = time.perf_counter() - start
        ort_ms, tf_ms = _interleaved_ms(lambda f=feeds: session(f), lambda f=tf_feeds: serving(**f), runs)
        ort2_ms, xla_ms = _interleaved_ms(lambda f=feeds: session(f), lambda f=tf_feeds: xla(**f), runs)
        ort_ms = (ort_ms + ort2_ms) / 2
        rows.append({"model": name, "batch": batch, "onnxruntime_ms": round(ort_ms, 2),
                     "savedmodel_ms": round(tf_ms, 2), "xla_ms": round(xla_ms, 2),
                     "savedmodel_ratio": round(tf_ms / ort_ms, 2), "xla_ratio": round(xla_ms / ort_ms, 2),
                     "xla_compile_s": round(compile_s, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", choices=sorted(MODELS))
    args = parser.parse_args()
    rows = [row for name in MODELS if not args.only or name == args.only for row in measure(name, args.runs)]
    print("\n| model | batch | SavedModel / onnxruntime | XLA / onnxruntime | XLA compile |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['model']} | {row['batch']} | {row['savedmodel_ratio']}x | {row['xla_ratio']}x | "
              f"{row['xla_compile_s']} s |")


if __name__ == "__main__":
    main()
