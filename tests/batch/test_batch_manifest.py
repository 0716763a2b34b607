"""The batch manifest: expansion, resolved paths, content keys, and one clear line for each mistake."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
from batch_helpers import onnx_model
from conftest import ROOT

from converter import api
from converter.batch import read_manifest
from converter.batch.manifest import OPTION_TYPES
from converter.core.errors import GraphtoolError
from converter.core.types import load_option_specs


def _zoo(folder):
    (folder / "models").mkdir()
    for name in ("a", "b"):
        onnx_model(folder / "models" / f"{name}.onnx")
    (folder / "zoo.py").write_text("def build():\n    return None\n")
    return folder


def _manifest(folder, text: str, name: str = "m.yaml"):
    path = folder / name
    path.write_text(text)
    return path


def test_globs_references_defaults_and_relative_paths(tmp_path):
    _zoo(tmp_path)
    (tmp_path / "data.npz").write_bytes(b"")
    path = _manifest(tmp_path, """\
defaults: {targets: [onnx, pt2], samples: 2, options: {rtol: 1e-3}}
models:
  - model: models/*.onnx
  - model: zoo.py:build
    targets: onnx
    inputs: data.npz
    input: ["x:batch,4"]
    options: {trace: auto, rtol: 1e-4, trust_pickle: false}
""")
    tasks = read_manifest(path).tasks
    assert [(t.model, t.target) for t in tasks] == [
        ("models/a.onnx", "onnx"), ("models/a.onnx", "pt2"), ("models/b.onnx", "onnx"), ("models/b.onnx", "pt2"),
        ("zoo.py:build", "onnx")]
    assert tasks[0].source == str(tmp_path / "models" / "a.onnx")
    assert tasks[0].options == {"rtol": 1e-3, "samples": 2}
    reference = tasks[-1]
    assert reference.source == f"{tmp_path / 'zoo.py'}:build"
    assert reference.options == {"rtol": 1e-4, "samples": 2, "trace": "auto", "trust_pickle": False,
                                 "inputs": str(tmp_path / "data.npz"), "input": ["x:batch,4"]}
    assert len({t.key for t in tasks}) == 5


def test_the_key_follows_the_model_content_and_the_options(tmp_path):
    _zoo(tmp_path)
    path = _manifest(tmp_path, "models: [{model: models/a.onnx}]\n")
    first = read_manifest(path).tasks[0].key
    assert read_manifest(path).tasks[0].key == first
    onnx_model(tmp_path / "models" / "a.onnx", op="Sigmoid")
    changed = read_manifest(path).tasks[0].key
    assert changed != first
    path.write_text("models: [{model: models/a.onnx, options: {atol: 0.1}}]\n")
    assert read_manifest(path).tasks[0].key not in (first, changed)


def test_factories_of_one_file_are_rows_of_their_own(tmp_path):
    (tmp_path / "zoo.py").write_text("def a():\n    return 1\n\ndef b():\n    return 2\n\ndef c():\n    return 3\n")
    path = _manifest(tmp_path, "defaults: {targets: [onnx, pt2]}\nmodels: [zoo.py:a, zoo.py:b, zoo.py:c]\n")
    tasks = read_manifest(path).tasks
    assert [(t.model, t.target) for t in tasks] == [(f"zoo.py:{name}", target) for name in "abc"
                                                    for target in ("onnx", "pt2")]
    assert len({t.key for t in tasks}) == 6 and len({t.slug for t in tasks}) == 6
    assert [t.key for t in read_manifest(path).tasks] == [t.key for t in tasks]
    (tmp_path / "zoo.py").write_text("def a():\n    return 1\n\ndef b():\n    return 2\n\ndef c():\n    return 4\n")
    changed = read_manifest(path).tasks  # the file's bytes are every factory's content: all of them run again
    assert not {t.key for t in changed} & {t.key for t in tasks} and len({t.key for t in changed}) == 6


def test_json_manifests_read_the_same(tmp_path):
    _zoo(tmp_path)
    path = _manifest(tmp_path, json.dumps({"models": [{"model": "models/a.onnx", "targets": ["tflite"]}]}), "m.json")
    assert [(t.model, t.target) for t in read_manifest(path).tasks] == [("models/a.onnx", "tflite")]


@pytest.mark.parametrize(("text", "expected"), [
    ("models: []\n", "expected a mapping with a non-empty 'models' list"),
    ("models: [{model: models/a.onnx, target: [onnx]}]\n", "models[0]: unknown key 'target'; expected model, name"),
    ("models: [{model: models/a.onnx, targets: [keras]}]\n", "targets: 'keras' is not a target; expected onnx"),
    ("models: [{model: models/missing.pt}]\n", "models[0]: model: "),
    ("models: [{model: 'models/*.pt'}]\n", "'models/*.pt' matches nothing in"),
    ("models: [{model: models/a.onnx, options: {rtol: high}}]\n", "options.rtol: expected a number >= 0, got 'high'"),
    ("models: [{model: models/a.onnx, options: {speed: 3}}]\n", "unknown option 'speed'; expected from, trace, opset"),
    ("models: [{model: models/a.onnx, options: {source_format: onnx}}]\n", "unknown option 'source_format'"),
    ("models: [{model: models/a.onnx, options: {value_shapes: false}}]\n", "unknown option 'value_shapes'"),
    ("models: [{model: models/a.onnx, options: {input: ['x:1']}}]\n", "unknown option 'input'"),
    ("models: [{model: models/a.onnx, options: {timeout: 0.05}}]\n", "options.timeout: expected a number >= 0.1"),
    ("models: [{model: models/a.onnx, options: {opset: '18'}}]\n", "options.opset: expected a whole number"),
    ("models: [{model: models/a.onnx, options: {custom_objects: nope.py}}]\n", "options.custom_objects: "),
    ("models: [{model: models/a.onnx, options: {trace: magic}}]\n", "options.trace: expected one of export"),
    ("models: [{model: models/a.onnx, options: {trust_code: 'yes'}}]\n", "options.trust_code: expected true or false"),
    ("models: [{model: models/a.onnx, inputs: nope.npz}]\n", "inputs: "),
    ("models: [models/a.onnx, models/a.onnx]\n", "models/a.onnx -> onnx is listed twice"),
    ("models: [zoo.py:build, zoo.py:build]\n", "zoo.py:build -> onnx is listed twice"),
    ("models: [zoo.py:build, {model: zoo.py:build, name: again}]\n", "again -> onnx is listed twice"),
    ("models: [{model: models/a.onnx\n", "not valid YAML"),
    ("defaults: {workers: 3}\nmodels: [models/a.onnx]\n", "defaults: unknown key 'workers'"),
])
def test_mistakes_are_one_line_naming_the_entry(tmp_path, text, expected):
    _zoo(tmp_path)
    with pytest.raises(GraphtoolError) as caught:
        read_manifest(_manifest(tmp_path, text))
    message = str(caught.value)
    assert expected in message and str(tmp_path / "m.yaml") in message and "\n" not in message


def test_the_options_are_the_flagged_loading_options_then_validation_settings():
    loading = [spec.key for spec in load_option_specs() if spec.key not in ("input", "inputs")]  # entry keys
    assert list(OPTION_TYPES) == [*loading, "samples", "rtol", "atol", "tolerance", "error_stat", "metric",
                                  "allow_inconclusive", "validate", "keep_failed", "precision", "calibration",
                                  "eval", "budget", "io_types"]


def test_precision_options_resolve_their_files_and_change_the_key(tmp_path):
    _zoo(tmp_path)
    np.savez(tmp_path / "calib.npz", x=np.zeros((2, 4), "float32"))
    path = _manifest(tmp_path, "models: [{model: models/a.onnx, name: float}, {model: models/a.onnx, name: int8, "
                               "options: {precision: int8, calibration: calib.npz, budget: auto}}]\n")
    plain, low = read_manifest(path).tasks
    assert low.options == {"precision": "int8", "calibration": str(tmp_path / "calib.npz"), "budget": "auto"}
    assert plain.key != low.key


@pytest.mark.parametrize(("options", "expected"), [
    ("{precision: int8}", "options.precision int8 needs options.calibration"),
    ("{precision: int4}", "options.precision: expected one of fp32"),
    ("{precision: fp16, calibration: nowhere.npz}", "options.calibration:"),
])
def test_bad_precision_options_are_refused_when_the_manifest_is_read(tmp_path, options, expected):
    _zoo(tmp_path)
    path = _manifest(tmp_path, f"models: [{{model: models/a.onnx, options: {options}}}]\n")
    with pytest.raises(GraphtoolError, match=re.escape(expected)):
        read_manifest(path)


def test_python_files_in_options_are_resolved_and_part_of_the_key(tmp_path):
    _zoo(tmp_path)
    (tmp_path / "layers.py").write_text("CUSTOM = 1\n")
    path = _manifest(tmp_path, "models: [{model: models/a.onnx, options: {custom_objects: layers.py, "
                               "model_class: 'zoo.py:build', timeout: 2}}]\n")
    task = read_manifest(path).tasks[0]
    assert task.options == {"custom_objects": str(tmp_path / "layers.py"),
                            "model_class": f"{tmp_path / 'zoo.py'}:build", "timeout": 2}
    (tmp_path / "layers.py").write_text("CUSTOM = 2\n")
    assert read_manifest(path).tasks[0].key != task.key
    path.write_text("models: [{model: models/a.onnx, options: {custom_objects: keras_layers}}]\n")
    assert read_manifest(path).tasks[0].options == {"custom_objects": "keras_layers"}  # a module, as it is


def test_api_batch_checks_the_manifest_before_anything_starts(tmp_path):
    _zoo(tmp_path)
    started = []
    with pytest.raises(GraphtoolError, match="is not a target"):
        api.batch(_manifest(tmp_path, "models: [{model: models/a.onnx, targets: [keras]}]\n"), tmp_path / "out",
                  on_start=started.append)
    assert started == [] and not (tmp_path / "out").exists()


def test_a_bad_manifest_exits_2_and_writes_nothing(cli, tmp_path):
    _zoo(tmp_path)
    path = _manifest(tmp_path, "models: [{model: models/a.onnx, targets: [keras]}]\n")
    result = cli("batch", path, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.startswith("graphtool: error: ") and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_dead_address_fails_in_seconds_with_one_line(cli, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="the batch extra (pip install 'graphtool[batch]') is not installed")
    # in seconds: before ray.init is asked to join, which retries for minutes (not a stopwatch on a busy machine)
    monkeypatch.setattr(ray, "init", lambda *args, **kwargs: pytest.fail("ray.init was asked to join"))
    _zoo(tmp_path)
    path = _manifest(tmp_path, "models: [models/a.onnx]\n")
    with socket.socket() as held:  # bound, never listening: refused, and no other process can take the port
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        result = cli("batch", path, "-o", tmp_path / "out", "--address", f"127.0.0.1:{port}")
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"graphtool: error: --address 127.0.0.1:{port}: nothing answers there (Connection refused); start the head "
        f"with `ray start --head --port {port}` or fix the address"]


def test_help_does_not_import_ray():
    code = "import sys; from converter.cli import app; assert 'ray' not in sys.modules and 'yaml' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
