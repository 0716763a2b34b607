"""Hostile and broken inputs: nothing runs, nothing escapes the model's folder, nothing is left half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ROOT
from onnx import TensorProto, helper, numpy_helper

from converter import api
from converter.core.errors import GraphtoolError

SLEEPY = (
    "import os, time, torch\n"
    "class Sleepy(torch.nn.Module):\n"
    "    def forward(self, x):\n"
    "        if os.environ.get('SLEEP_IN_FORWARD'):\n"
    "            time.sleep(60)  # a model that hangs while it is traced\n"
    "        return x * 2\n"
    "def model():\n"
    "    return Sleepy(), (torch.ones(2, 3),)\n"
)


def _external_model(folder, location: str, length: int | None = None):
    """A model whose weight 'w' (4 floats) lives in an external file at `location`."""
    weight = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    entries = {"location": location, **({"length": str(length)} if length is not None else {})}
    for key, value in entries.items():
        weight.external_data.add(key=key, value=value)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [weight])
    path = folder / "model.onnx"
    onnx.save(helper.make_model(graph, ir_version=10), path)
    return path


def test_external_data_inside_the_folder_loads(tmp_path):
    (tmp_path / "weights.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    loaded = api.load(str(_external_model(tmp_path, "weights.bin")))
    assert numpy_helper.to_array(loaded.model.graph.initializer[0]).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("location", ["/etc/passwd", "../secret.bin", "sub/../../secret.bin", "link.bin"])
def test_external_data_escaping_the_folder_is_refused(tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    with pytest.raises(GraphtoolError, match="outside the model's folder"):
        api.load(str(_external_model(folder, location)))


def test_external_data_sizes_are_checked_before_reading(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(GraphtoolError, match="holds only 16"):
        api.load(str(_external_model(tmp_path, "weights.bin", length=10**12)))
    (tmp_path / "short.bin").write_bytes(b"\0" * 8)
    with pytest.raises(GraphtoolError, match=r"\(16 bytes\) but 8 bytes"):
        api.load(str(_external_model(tmp_path, "short.bin")))
    with pytest.raises(GraphtoolError, match="missing"):
        api.load(str(_external_model(tmp_path, "absent.bin")))


def test_model_over_two_gigabytes_loads_without_reading_its_weights(tmp_path):
    import resource

    weight = numpy_helper.from_array(np.zeros(1, np.float32), "w")
    weight.ClearField("raw_data")
    del weight.dims[:]
    weight.dims.append(3 * 2**28)  # 3 GiB of float32
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="big.bin")
    with open(tmp_path / "big.bin", "wb") as stream:
        stream.truncate(3 * 2**30)  # sparse: takes no disk space
    graph = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3 * 2**28])], [weight])
    onnx.save(helper.make_model(graph, ir_version=10), tmp_path / "big.onnx")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loaded = api.load(str(tmp_path / "big.onnx"))
    grew_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert loaded.weights_dir == tmp_path and loaded.model.ByteSize() < 4096  # the weights stay in big.bin
    assert grew_kib < 2**20  # far below the 3 GiB a copy through protobuf would take


def test_protobuf_declaring_an_enormous_field_fails_cleanly(cli, tmp_path):
    path = tmp_path / "huge.onnx"
    # ModelProto.graph (field 7) declared 2**40 bytes long, in a 20-byte file: nothing may allocate that.
    length = bytearray()
    size = 2**40
    while size:
        length.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
    path.write_bytes(b"\x08\x0a\x3a" + bytes(length) + b"\x00" * 8)
    result = cli("inspect", path)
    assert result.exit_code == 2 and "not a readable ONNX model" in result.stderr


def test_zip_bomb_is_refused_before_unpacking(tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"\0" * (200 * 2**20))
    assert path.stat().st_size < 2**20
    with pytest.raises(GraphtoolError, match="zip bomb"):
        api.load(str(path))


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""
    key, length, size = bytes([number << 3 | 2]), bytearray(), len(payload)
    while True:
        length.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            return key + bytes(length) + payload


def test_deeply_nested_subgraphs_are_refused(cli, tmp_path):
    # If nodes nested 200 deep, encoded by hand: Python's protobuf would refuse to build it.
    graph = b""
    for _ in range(200):
        attribute = _field(1, b"then_branch") + _field(6, graph)  # AttributeProto: name, g
        graph = _field(1, _field(4, b"If") + _field(5, attribute))  # GraphProto.node: op_type, attribute
    path = tmp_path / "deep.onnx"
    path.write_bytes(b"\x08\x0a" + _field(7, graph))  # ModelProto: ir_version 10, graph
    result = cli("inspect", path)
    assert result.exit_code == 2 and "not a readable ONNX model" in result.stderr


@pytest.mark.slow
def test_lambda_layer_in_h5_needs_trust_code(tmp_path):
    import keras

    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t + 1.0, name="plus")(inputs))
    path = tmp_path / "lambda.h5"
    model.save(path)
    with pytest.raises(GraphtoolError, match="--trust-code"):
        api.load(str(path))


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    model = tmp_path / "m.onnx"
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    onnx.save(helper.make_model(graph, ir_version=10), model)

    def half_then_interrupted(proto, path, *args, **kwargs):
        Path(path).write_bytes(proto.SerializeToString()[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx, "save_model", half_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        api.convert(str(model), "onnx", tmp_path / "out.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def _graphtool(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "converter", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigterm_during_convert_leaves_nothing_and_a_rerun_succeeds(tmp_path):
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    out = tmp_path / "out" / "sleepy.onnx"
    out.parent.mkdir()
    args = ("convert", f"{tmp_path / 'sleepy.py'}:model", "-o", out)
    process = _graphtool(*args, env={**os.environ, "SLEEP_IN_FORWARD": "1"})
    time.sleep(8)  # torch is imported and the model is being traced by now
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in stderr
    assert list(out.parent.iterdir()) == []
    rerun = _graphtool(*args)
    rerun.communicate(timeout=300)
    assert rerun.returncode == 0 and out.is_file()


@pytest.mark.slow
def test_timeout_bounds_tracing(cli, tmp_path, monkeypatch):
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    monkeypatch.setenv("SLEEP_IN_FORWARD", "1")
    start = time.perf_counter()
    result = cli("convert", f"{tmp_path / 'sleepy.py'}:model", "-o", tmp_path / "o.onnx", "--timeout", "3")
    assert result.exit_code == 2 and "did not finish within 3 s (--timeout)" in result.stderr
    assert time.perf_counter() - start < 30
    assert not (tmp_path / "o.onnx").exists()
