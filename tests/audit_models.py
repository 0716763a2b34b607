"""Hostile and benign models built in code for the graph audit: each records what it would write or read."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

SECRET = b"GRAPHTOOL-SECRET-7f3a"  # bytes a hostile model reads; they must never reach an output


@dataclass(frozen=True)
class Built:
    """A model on disk, the files it would touch, the op the audit must name and the args commands need."""

    path: Path
    op: str
    written: Path | None = None  # a file the model writes when run
    args: tuple[str, ...] = ()


def tf_models(folder: Path) -> dict[str, Built]:
    """SavedModels whose serving function writes, reads, prints to a file, lists files, draws random numbers."""
    import tensorflow as tf

    secret = _secret(folder)
    written = folder / "written_by_tf.txt"
    printed = folder / "printed_by_tf.txt"
    saved = folder / "checkpoint_by_tf"
    bodies = {
        "tf-write": ("WriteFile", written, lambda x: tf.io.write_file(str(written), tf.strings.as_string(x[0, 0]))),
        "tf-read": ("ReadFile", None, lambda x: tf.io.read_file(str(secret))),
        "tf-print-file": ("PrintV2", printed, lambda x: tf.print(x, output_stream=f"file://{printed}")),
        "tf-list": ("MatchingFiles", None, lambda x: tf.io.matching_files(str(folder / "*"))),
        "tf-random": ("RandomUniform", None, lambda x: tf.random.uniform([1])),
        "tf-save": ("SaveV2", saved, lambda x: tf.raw_ops.SaveV2(prefix=str(saved), tensor_names=["x"],
                                                                 shape_and_slices=[""], tensors=[x])),
        "tf-print-stderr": ("PrintV2", None, lambda x: tf.print("benign", x, output_stream=sys.stderr)),
    }
    return {name: Built(_savedmodel(folder / name, body), op, target) for name, (op, target, body) in bodies.items()}


def _savedmodel(path: Path, side_effect) -> Path:
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.constant([[1.0, -2.0], [0.5, 3.0]]))

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")], autograph=False)
        def serve(self, x):
            result = side_effect(x)
            y = tf.matmul(x, self.w)
            if tf.is_tensor(result) and result.dtype == tf.string:  # what was read lands in the output
                y += tf.cast(tf.strings.length(tf.reshape(result, [-1])[:1]), tf.float32)
            elif tf.is_tensor(result) and result.dtype == tf.float32:
                y += result
            return {"y": y}

    model = Model()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.serve})
    return path


def torch_models(folder: Path) -> dict[str, Built]:
    """TorchScript archives whose forward() reads a file, or (benign) prints; an ExportedProgram with a custom op."""
    import torch

    secret = str(_secret(folder))

    class Reads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.secret = secret
            self.size = len(SECRET)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            data = torch.from_file(self.secret, shared=False, size=self.size, dtype=torch.uint8)
            return x + data[:4].to(torch.float32)

    class Prints(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            print("benign", x.shape)
            return x * 2.0

    built = {}
    for name, module, op in (("ts-read", Reads(), "aten::from_file"), ("ts-print", Prints(), "prim::Print")):
        path = folder / f"{name}.ts"
        torch.jit.script(module).save(str(path))
        built[name] = Built(path, op, args=("--input", "x:batch,4"))
    built["ep-custom"] = _exported_with_custom_op(folder / "ep-custom.pt2")
    return built


def _exported_with_custom_op(path: Path) -> Built:
    """An ExportedProgram calling an op from a library of its own: no allowlist knows what it does."""
    import torch

    if not hasattr(torch.ops.graphtool_audit, "peek"):
        @torch.library.custom_op("graphtool_audit::peek", mutates_args=(), schema="(Tensor x) -> Tensor")
        def peek(x):
            return x.clone()

        peek.register_fake(lambda x: torch.empty_like(x))

    class Custom(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.graphtool_audit.peek(x) + 1.0

    torch.export.save(torch.export.export(Custom(), (torch.ones(2, 4),)), str(path))
    return Built(path, "graphtool_audit::peek")


def onnx_models(folder: Path) -> dict[str, Built]:
    """ONNX models: a node in a custom domain, and (benign) onnxruntime's contrib Gelu."""
    import onnx
    from onnx import TensorProto, helper

    built = {}
    for name, domain, op in (("onnx-custom", "evil.ops", "Exfiltrate"), ("onnx-contrib", "com.microsoft", "Gelu")):
        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["r"], name="relu"), helper.make_node(op, ["r"], ["y"], domain=domain,
                                                                                   name="hostile")],
            "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(domain, 1)])
        path = folder / f"{name}.onnx"
        onnx.save(model, path)
        built[name] = Built(path, f"{domain}::{op}")
    return built


def _secret(folder: Path) -> Path:
    path = folder / "secret.txt"
    path.write_bytes(SECRET)
    return path
