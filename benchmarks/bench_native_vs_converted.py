"""Converted vs native latency, side by side in one run: graphtool's artifacts against what the framework builds.

Run: python benchmarks/bench_native_vs_converted.py [--runs N] [--only resnet50|mobilenetv2|bert|resnet18|bert_torch]
TensorFlow pairs (converted: Keras or transformers -> ONNX -> `convert --to savedmodel`; native: the Keras
model's own `model.export()` SavedModel, both loaded back and called through their serving signature):
keras.applications ResNet50 and MobileNetV2 (weights=None, 64x64 input), and a BERT-class encoder
(transformers' BertModel, 4 layers, hidden 256, sequence 128) against keras_hub's BertBackbone of the same
sizes. PyTorch pairs (converted: the module -> ONNX -> `convert --to pt2` and `--to torchscript`; native:
the eager module): a ResNet-18 (built in code) and the same BERT-class encoder. Each pair is timed in
alternating blocks (tf_speed._interleaved_ms) so a drifting load hits both sides; ratio = converted / native
median latency, goal <= 1.0x for TensorFlow and <= 1.1x for PyTorch. PyTorch runs on one thread by default
(--torch-threads).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

from tf_speed import _interleaved_ms  # noqa: E402

SIZE = 64  # keras.applications input side: small, to keep the run short on a 2-core machine
SEQUENCE = 128
BERT = {"layers": 4, "heads": 4, "hidden": 256, "intermediate": 1024, "vocab": 30522}
GOALS = {"tf": 1.0, "torch": 1.1}


def _convert(model: onnx.ModelProto, target: str, folder: Path) -> Path:
    """graphtool's conversion of an ONNX model, unvalidated (the tests validate; this times)."""
    from converter import api

    source = folder / "model.onnx"
    onnx.save_model(model, str(source))
    output = folder / {"savedmodel": "savedmodel", "pt2": "model.pt2", "torchscript": "model.ts"}[target]
    api.convert(str(source), target, output, validate=False)
    return output


def _serving(path: Path) -> Callable:
    """The serving_default signature of a SavedModel, called with numpy arrays by input name."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    names = list(specs)

    def call(feeds: dict[str, np.ndarray], keep=loaded) -> object:  # keep: the variables live with the object
        return signature(**{name: tf.constant(feeds[name], dtype=specs[name].dtype) for name in names})

    call.names = names
    return call


def _keras_onnx(model: object) -> onnx.ModelProto:
    from converter import api

    return api.load(model).model


def _tf_application(name: str, folder: Path) -> tuple[Callable, Callable, Callable]:
    import keras

    build = {"resnet50": keras.applications.ResNet50, "mobilenetv2": keras.applications.MobileNetV2}[name]
    keras.utils.set_random_seed(0)
    model = build(weights=None, input_shape=(SIZE, SIZE, 3))
    model.export(str(folder / "native"), format="tf_saved_model", verbose=False)
    native = _serving(folder / "native")
    converted = _serving(_convert(_keras_onnx(model), "savedmodel", folder))
    rng = np.random.default_rng(0)

    def inputs(batch: int) -> tuple[dict, dict]:
        x = rng.standard_normal((batch, SIZE, SIZE, 3)).astype(np.float32)
        return {native.names[0]: x}, {converted.names[0]: x}

    return native, converted, inputs


def _bert_module() -> object:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=BERT["hidden"], num_hidden_layers=BERT["layers"],
                        num_attention_heads=BERT["heads"], intermediate_size=BERT["intermediate"])
    return BertModel(config).eval()


def _bert_onnx(module: object) -> onnx.ModelProto:
    import torch

    ids = torch.randint(0, BERT["vocab"], (2, SEQUENCE))
    program = torch.onnx.export(module, (ids,), dynamo=True, optimize=True, input_names=["input_ids"],
                                dynamic_shapes={"input_ids": {0: torch.export.Dim("batch")}})
    return program.model_proto


def _tf_bert(folder: Path) -> tuple[Callable, Callable, Callable]:
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=BERT["vocab"], num_layers=BERT["layers"], num_heads=BERT["heads"],
        hidden_dim=BERT["hidden"], intermediate_dim=BERT["intermediate"], max_sequence_length=SEQUENCE)
    backbone.export(str(folder / "native"), format="tf_saved_model", verbose=False)
    native = _serving(folder / "native")
    converted = _serving(_convert(_bert_onnx(_bert_module()), "savedmodel", folder))
    rng = np.random.default_rng(0)

    def inputs(batch: int) -> tuple[dict, dict]:
        ids = rng.integers(0, BERT["vocab"], (batch, SEQUENCE))
        keras_feeds = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}
        return keras_feeds, {converted.names[0]: ids}

    return native, converted, inputs


def _torch_pairs(name: str, folder: Path) -> dict[str, tuple[Callable, Callable, Callable]]:
    import torch
    from torch_speed import ResNet18

    if name == "resnet18":
        torch.manual_seed(0)
        native = ResNet18().eval()
        path = folder / "resnet18.onnx"
        torch.onnx.export(native, (torch.randn(1, 3, 224, 224),), str(path), input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, opset_version=17, dynamo=False)
        model = onnx.load(str(path))

        def inputs(batch: int) -> tuple:
            return (torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(batch)),)
    else:
        native = _bert_module()
        model = _bert_onnx(native)

        def inputs(batch: int) -> tuple:
            return (torch.randint(0, BERT["vocab"], (batch, SEQUENCE), generator=torch.Generator().manual_seed(batch)),)

    pt2 = torch.export.load(str(_convert(model, "pt2", folder))).module()
    script = torch.jit.load(str(_convert(model, "torchscript", folder))).eval()
    return {"pt2": (native, pt2, inputs), "torchscript": (native, script, inputs)}


def _row(framework: str, name: str, kind: str, batch: int, native_ms: float, converted_ms: float) -> dict:
    ratio = converted_ms / native_ms
    return {"framework": framework, "model": name, "converted": kind, "batch": batch,
            "native_ms": round(native_ms, 2), "converted_ms": round(converted_ms, 2), "ratio": round(ratio, 2),
            "goal": GOALS[framework], "met": ratio <= GOALS[framework]}


def measure_tf(name: str, runs: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        native, converted, inputs = _tf_bert(Path(folder)) if name == "bert" else _tf_application(name, Path(folder))
        rows = []
        for batch in (1, 8):
            native_feeds, converted_feeds = inputs(batch)
            native_ms, converted_ms = _interleaved_ms(lambda f=native_feeds: native(f),
                                                      lambda f=converted_feeds: converted(f), runs)
            rows.append(_row("tf", name, "savedmodel", batch, native_ms, converted_ms))
        return rows


def measure_torch(name: str, runs: int) -> list[dict]:
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        for kind, (native, converted, inputs) in _torch_pairs(name, Path(folder)).items():
            for batch in (1, 8):
                args = inputs(batch)
                native_ms, converted_ms = _interleaved_ms(lambda n=native, a=args: n(*a),
                                                          lambda c=converted, a=args: c(*a), runs)
                rows.append(_row("torch", name.removesuffix("_torch"), kind, batch, native_ms, converted_ms))
    return rows


MODELS = {
    "resnet50": lambda runs: measure_tf("resnet50", runs),
    "mobilenetv2": lambda runs: measure_tf("mobilenetv2", runs),
    "bert": lambda runs: measure_tf("bert", runs),
    "resnet18": lambda runs: measure_torch("resnet18", runs),
    "bert_torch": lambda runs: measure_torch("bert_torch", runs),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed calls per side and batch")
    parser.add_argument("--only", choices=sorted(MODELS), nargs="+")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch.set_num_threads for the PyTorch pairs (0: torch's default)")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    warnings.filterwarnings("ignore")
    if options.torch_threads:
        import torch

        # With torch's default pool on a loaded 2-core machine, the same eager module timed 19 ms in one pair
        # and 507 ms in the next (its OpenMP threads spin against TensorFlow's and other tenants'): one
        # thread a side keeps the pairs comparable.
        torch.set_num_threads(options.torch_threads)
    rows = []
    for name, measure in MODELS.items():
        if options.only and name not in options.only:
            continue
        for row in measure(options.runs):
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; converted / native median latency")
    print("| model | converted | native | batch 1 | batch 8 |\n| --- | --- | --- | --- | --- |")
    for key in dict.fromkeys((r["framework"], r["model"], r["converted"]) for r in rows):
        by = {r["batch"]: r for r in rows if (r["framework"], r["model"], r["converted"]) == key}
        native = "model.export()" if key[0] == "tf" else "eager module"
        print(f"| {key[1]} | {key[2]} | {native} | {by[1]['ratio']}x | {by[8]['ratio']}x |")
    if options.json:
        options.json.write_text(json.dumps(rows, indent=1))
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
