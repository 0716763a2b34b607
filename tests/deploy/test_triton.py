"""converter/deploy/triton.py: config.pbtxt as tritonclient's ModelConfig, against golden files of earlier output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from converter.deploy.interface import Interface, TensorSpec

pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="the serve extra")

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REGEN = os.environ.get("GRAPHTOOL_REGEN_GOLDEN") == "1"

# The interfaces of fixture models as `package` records them (batched where every leading dim varies).
CASES = {
    "mlp_onnx": ("mlp", "onnx", Interface((TensorSpec("x", "float32", (-1, 16)),),
                                          (TensorSpec("output", "float32", (-1, 4)),)), [1]),
    "two_heads_torchscript": ("two_heads", "torchscript", Interface(
        (TensorSpec("features", "float32", (-1, 12)), TensorSpec("meta", "float32", (-1, 4))),
        (TensorSpec("logits", "float32", (-1, 3)), TensorSpec("score", "float32", (-1, 1)))), [1, 2]),
    "keras_lstm_savedmodel": ("keras_lstm", "savedmodel", Interface(
        (TensorSpec("tokens", "float32", (-1, -1, 8)),), (TensorSpec("tags", "float32", (-1, -1, 5)),)), [3]),
    # not batched (a fixed leading dim), other dtypes and a scalar: max_batch_size 0, full dims, no dynamic batching
    "fixed_onnx": ("fixed", "onnx", Interface(
        (TensorSpec("ids", "int64", (2, 7)), TensorSpec("mask", "bool", (2, 7)), TensorSpec("text", "object", (2,))),
        (TensorSpec("scores", "float16", (2, 7)), TensorSpec("total", "float64", ()))), [1, 4, 9]),
}


def _golden(name: str, text: str) -> str:
    """tests/golden/<name>; GRAPHTOOL_REGEN_GOLDEN=1 rewrites it from `text`."""
    path = GOLDEN / name
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with GRAPHTOOL_REGEN_GOLDEN=1"
    return path.read_text(encoding="utf-8")


def _parsed(text: str):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.mark.parametrize("case", CASES)
def test_config_means_what_the_golden_file_says(case):
    """Field for field the same message as the golden config.pbtxt (written by the f-string writer it replaced)."""
    from converter.deploy.triton import config_text

    text = config_text(*CASES[case])
    assert _parsed(text) == _parsed(_golden(f"triton_{case}.pbtxt", text))


def test_config_has_the_interface_batching_and_versions():
    from tritonclient.grpc import model_config_pb2 as pb

    from converter.deploy.triton import config_text

    batched = _parsed(config_text(*CASES["two_heads_torchscript"]))
    assert (batched.name, batched.platform, batched.max_batch_size) == ("two_heads", "pytorch_libtorch", 8)
    assert [(t.name, t.data_type, list(t.dims)) for t in batched.input] == [
        ("INPUT__0", pb.TYPE_FP32, [12]), ("INPUT__1", pb.TYPE_FP32, [4])]
    assert [(t.name, list(t.dims)) for t in batched.output] == [("OUTPUT__0", [3]), ("OUTPUT__1", [1])]
    assert list(batched.version_policy.specific.versions) == [1, 2]
    assert [(g.kind, g.count) for g in batched.instance_group] == [(pb.ModelInstanceGroup.KIND_CPU, 1)]
    assert batched.dynamic_batching.max_queue_delay_microseconds == 100

    fixed = _parsed(config_text(*CASES["fixed_onnx"]))
    assert fixed.max_batch_size == 0 and not fixed.HasField("dynamic_batching")
    assert [(t.name, t.data_type, list(t.dims)) for t in fixed.input] == [
        ("ids", pb.TYPE_INT64, [2, 7]), ("mask", pb.TYPE_BOOL, [2, 7]), ("text", pb.TYPE_STRING, [2])]
    assert [(t.name, t.data_type, list(t.dims)) for t in fixed.output] == [
        ("scores", pb.TYPE_FP16, [2, 7]), ("total", pb.TYPE_FP64, [])]


def test_read_config_refuses_what_is_not_a_model_config(tmp_path):
    from converter.core.errors import GraphtoolError
    from converter.deploy.triton import read_config

    path = tmp_path / "config.pbtxt"
    path.write_text('name: "m"\nplatfrom: "onnxruntime_onnx"\n')
    with pytest.raises(GraphtoolError, match="not a Triton model config"):
        read_config(path)
