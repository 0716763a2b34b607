"""One TensorFlow kernel against onnxruntime's: a BERT feed-forward MatMul as a converted SavedModel, side by side.

Run: python benchmarks/tf_speed.py [--runs N] [--threads T] [--json FILE]
The whole models' SavedModel-vs-onnxruntime figures are now `graphtool bench` (benchmarks/bench_runtimes.py);
this script keeps what bench cannot show: the BERT encoder's feed-forward MatMul alone ([128*batch, 256] x
[256, 1024]), which tells how much of a whole model's gap is the MatMul kernel itself. Its helpers (the
ResNet-50 and BERT ONNX models, alternating timing) serve bench_xla.py, bench_native_vs_converted.py and
bench_efficientnet.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

__all__ = ["measure"]


def _resnet50() -> tuple[onnx.ModelProto, callable]:
    from converter.conformance.light import LIGHT_DIR, randomize_weights

    model = _any_batch(randomize_weights(onnx.load(str(LIGHT_DIR / "light_resnet50.onnx"))))
    weights = {i.name for i in model.graph.initializer}
    name = next(i.name for i in model.graph.input if i.name not in weights)
    rng = np.random.default_rng(0)
    return model, lambda batch: {name: rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)}


def _any_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    """The light model is saved for batch 1: make the batch dimension symbolic (Reshape copies it)."""
    from onnx import numpy_helper

    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and value.name not in {i.name for i in model.graph.initializer}:
            dims[0].dim_param = "N"
    del model.graph.value_info[:]
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            shape[0] = 0
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    return model


def _bert() -> tuple[onnx.ModelProto, callable]:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    module = BertModel(config).eval()
    ids = torch.randint(0, config.vocab_size, (2, 128))
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(
        module,
        (ids,),
        dynamo=True,
        optimize=True,
        input_names=["input_ids"],
        dynamic_shapes={"input_ids": {0: batch}},
    )
    model = program.model_proto
    rng = np.random.default_rng(0)
    return model, lambda n: {"input_ids": rng.integers(0, config.vocab_size, (n, 128)).astype(np.int64)}


def _matmul() -> tuple[onnx.ModelProto, callable]:
    """BERT's feed-forward MatMul alone, [128 * batch, 256] x [256, 1024]: the kernel that dominates it."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((256, 1024)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", 1024])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    return model, lambda batch: {"x": rng.standard_normal((128 * batch, 256)).astype(np.float32)}


def _interleaved_ms(first, second, runs: int, block: int = 5) -> tuple[float, float]:
    """Median latency (ms) of each, timed in alternating blocks so both see the same load on a shared machine."""
    (first_ms, _), (second_ms, _) = _interleaved([first, second], runs, block)
    return first_ms, second_ms


def _interleaved(calls, runs: int, block: int = 5) -> list[tuple[float, float]]:
    """(median wall ms, mean process CPU ms) of each call, timed in turn in blocks so all see the same load.

    A pause before each block lets the other runtimes' idle worker threads stop spinning first.
    """
    for fn in [*calls, *calls]:
        fn()
    walls: list[list[float]] = [[] for _ in calls]
    cpus: list[list[float]] = [[] for _ in calls]
    while len(walls[-1]) < runs:
        for fn, wall, cpu in zip(calls, walls, cpus, strict=True):
            time.sleep(0.05)
            for _ in range(block):
                started, cpu_started = time.perf_counter(), time.process_time()
                fn()
                wall.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
    return [(1000 * statistics.median(w), 1000 * statistics.mean(c)) for w, c in zip(walls, cpus, strict=True)]


def measure(name: str, model: onnx.ModelProto, make_inputs, runs: int, threads: int) -> list[dict]:
    """Median latency (ms) of onnxruntime and of the SavedModel at batch 1 and 8, with their ratio."""
    import tensorflow as tf

    from converter.core.runners import ort_runner
    from converter.targets.savedmodel import SIGNATURE_KEY, write_savedmodel

    session = ort_runner(model, threads=threads)  # 0 threads: onnxruntime's default
    directory = Path(tempfile.mkdtemp()) / name
    result = write_savedmodel(model, directory)
    serving = tf.saved_model.load(str(directory)).signatures[SIGNATURE_KEY]
    rows = []
    for batch in (1, 8):
        feeds = make_inputs(batch)
        tf_feeds = {result.inputs[k]: tf.constant(v) for k, v in feeds.items()}
        ort_ms, tf_ms = _interleaved_ms(lambda feeds=feeds: session(feeds),
                                        lambda tf_feeds=tf_feeds: serving(**tf_feeds), runs)
        rows.append(
            {
                "model": name,
                "batch": batch,
                "onnxruntime_ms": round(ort_ms, 2),
                "savedmodel_ms": round(tf_ms, 2),
                "ratio": round(tf_ms / ort_ms, 2),
                "transposes": result.transposes,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: the runtimes' default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    rows = []
    for name, build in (("matmul_128x256x1024", _matmul),):
        model, make_inputs = build()
        for row in measure(name, model, make_inputs, args.runs, args.threads):
            print(json.dumps(row))
            rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
