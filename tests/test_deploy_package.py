"""graphtool package: each server's layout, read back with that server's own protos, and version management."""

from __future__ import annotations

import json

import numpy as np
import pytest
from deploy_helpers import mlp_onnx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return mlp_onnx(tmp_path_factory.mktemp("source") / "mlp.onnx")


def _package(cli, source, server, out, *extra):
    result = cli("package", source, "--for", server, "-o", out, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_tf_serving_versions_labels_and_warmup(cli, source, tmp_path):
    from converter.deploy.tfserving import read_config, read_warmup

    out = tmp_path / "tfs"
    first = _package(cli, source, "tf-serving", out, "--label", "stable")
    second = _package(cli, source, "tf-serving", out, "--label", "canary")
    assert (first["version"], second["version"]) == (1, 2)
    config = read_config(out / "models.config")  # TF Serving's own ModelServerConfig proto
    (entry,) = config.model_config_list.config
    assert entry.name == "mlp" and entry.model_platform == "tensorflow"
    assert list(entry.model_version_policy.specific.versions) == [1, 2]
    assert dict(entry.version_labels) == {"stable": 1, "canary": 2}
    for version in (1, 2):
        assert (out / "mlp" / str(version) / "saved_model.pb").is_file()
    warmup = read_warmup(out / "mlp" / "2" / "assets.extra" / "tf_serving_warmup_requests")
    assert len(warmup) == second["warmup_records"] == 3
    assert all(set(r) == {"x"} and r["x"].dtype == np.float32 and r["x"].shape[1] == 16 for r in warmup)
    assert second["check"]["passed"] and second["check"]["warmup_replayed"] == 3

    moved = _package(cli, source, "tf-serving", out, "--version", "2", "--label", "stable", "--force")
    assert moved["labels"] == {"stable": 2, "canary": 2}
    refused = cli("package", source, "--for", "tf-serving", "-o", out, "--version", "1")
    assert refused.exit_code == 2
    assert "version 1 already exists; pass --force" in refused.stderr and "Traceback" not in refused.output
    assert sorted(p.name for p in (out / "mlp").iterdir()) == ["1", "2"]  # nothing half-written


def test_triton_configs_parse_with_tritonclient_protos(cli, source, tmp_path):
    from tritonclient.grpc import model_config_pb2

    from converter.deploy.triton import read_config

    out = tmp_path / "triton"
    _package(cli, source, "triton", out)
    _package(cli, source, "triton", out, "--format", "torchscript", "--name", "mlp_ts")
    onnx_config = read_config(out / "mlp" / "config.pbtxt")
    assert onnx_config.platform == "onnxruntime_onnx" and onnx_config.max_batch_size == 8
    assert [(t.name, t.data_type, list(t.dims)) for t in onnx_config.input] == [("x", model_config_pb2.TYPE_FP32, [16])]
    assert [(t.name, list(t.dims)) for t in onnx_config.output] == [("output", [4])]
    assert onnx_config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert onnx_config.HasField("dynamic_batching") and list(onnx_config.version_policy.specific.versions) == [1]
    assert (out / "mlp" / "1" / "model.onnx").is_file()
    ts_config = read_config(out / "mlp_ts" / "config.pbtxt")
    assert ts_config.platform == "pytorch_libtorch"
    assert [t.name for t in ts_config.input] == ["INPUT__0"] and [t.name for t in ts_config.output] == ["OUTPUT__0"]
    assert (out / "mlp_ts" / "1" / "model.pt").is_file()


def test_kserve_manifest(cli, source, tmp_path):
    import yaml

    out = tmp_path / "kserve"
    result = _package(cli, source, "kserve", out)
    manifest = yaml.safe_load((out / "mlp.yaml").read_text())
    assert manifest["kind"] == "InferenceService" and manifest["metadata"]["name"] == "mlp"
    model = manifest["spec"]["predictor"]["model"]
    assert (model["modelFormat"]["name"], model["runtime"], model["protocolVersion"]) == (
        "onnx", "kserve-tritonserver", "v2")
    assert result["check"]["passed"] and (out / "mlp" / "config.pbtxt").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--for", "docker"], "--for docker: unknown server; expected one of tf-serving, torchserve, triton, kserve"),
    (["--for", "tf-serving", "--format", "onnx"], "--format onnx: tf-serving serves savedmodel"),
    (["--for", "triton", "--name", "a/b"], "--name a/b: use letters"),
])
def test_bad_options_are_one_line(cli, source, tmp_path, args, message):
    result = cli("package", source, "-o", tmp_path / "out", *args)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
