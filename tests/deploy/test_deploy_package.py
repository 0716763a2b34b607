"""graphtool package: each server's layout, read back with that server's own protos, and version management."""

from __future__ import annotations

import json

import numpy as np
import pytest
from deploy_helpers import mlp_onnx

from converter.core.targets import TARGET_NAMES
from converter.deploy.package import Layout, layouts

pytestmark = pytest.mark.slow


def test_layouts_serve_targets_by_their_names():
    assert all(set(layout.formats) <= set(TARGET_NAMES) for layout in layouts().values())
    with pytest.raises(ValueError, match="layout mine: keras is not a target; expected onnx, savedmodel"):
        Layout("mine", ("onnx", "keras"), lambda *plan: None, lambda context: {})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return mlp_onnx(tmp_path_factory.mktemp("source") / "mlp.onnx")


def _package(cli, source, server, out, *extra):
    result = cli("package", source, "--for", server, "-o", out, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def tf_serving(source, tmp_path_factory):
    """A TF Serving base: version 1 labelled stable, version 2 labelled canary, then stable moved to 2."""
    from typer.testing import CliRunner

    from converter.cli import app

    def cli(*args):
        return CliRunner().invoke(app, [str(a) for a in args])

    out = tmp_path_factory.mktemp("tfs") / "base"
    first = _package(cli, source, "tf-serving", out, "--label", "stable")
    second = _package(cli, source, "tf-serving", out, "--label", "canary")
    moved = _package(cli, source, "tf-serving", out, "--version", "2", "--label", "stable", "--force")
    refused = cli("package", source, "--for", "tf-serving", "-o", out, "--version", "1")
    return out, first, second, moved, refused


def test_tf_serving_versions_labels_and_warmup(tf_serving):
    from converter.deploy.tfserving import read_config, read_warmup

    out, first, second, moved, refused = tf_serving
    assert (first["version"], second["version"]) == (1, 2)
    config = read_config(out / "models.config")  # TF Serving's own ModelServerConfig proto
    (entry,) = config.model_config_list.config
    assert entry.name == "mlp" and entry.model_platform == "tensorflow"
    assert list(entry.model_version_policy.specific.versions) == [1, 2]
    assert dict(entry.version_labels) == {"stable": 2, "canary": 2}
    assert first["labels"] == {"stable": 1} and second["labels"] == {"stable": 1, "canary": 2}
    for version in (1, 2):
        assert (out / "mlp" / str(version) / "saved_model.pb").is_file()
    warmup = read_warmup(out / "mlp" / "2" / "assets.extra" / "tf_serving_warmup_requests")
    assert len(warmup) == second["warmup_records"] == 6  # the 3 samples, then negated, scaled and zeroed
    assert all(set(r) == {"x"} and r["x"].dtype == np.float32 and r["x"].shape[1] == 16 for r in warmup)
    assert second["check"]["passed"] and second["check"]["warmup_replayed"] == 6
    assert moved["labels"] == {"stable": 2, "canary": 2} and moved["versions"] == [1, 2]
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


@pytest.mark.external
def test_serve_replays_warmup_and_serves_every_version_and_label(tf_serving):
    import urllib.error
    import urllib.request

    from deploy_helpers import free_port, start_graphtool_serve, stop, wait_for

    out = tf_serving[0]
    port = free_port()
    process = start_graphtool_serve(out, port)
    base = f"http://127.0.0.1:{port}/v1/models/mlp"
    try:
        wait_for(base, process)
        with urllib.request.urlopen(base) as response:
            status = json.loads(response.read())["model_version_status"]
        assert [s["version"] for s in status] == ["1", "2"]
        x = [[0.5] * 16, [-1.0] * 16]
        answers = []
        for path in ("/versions/1", "/labels/stable", "/labels/canary", ""):
            request = urllib.request.Request(f"{base}{path}:predict", json.dumps({"instances": x}).encode())
            with urllib.request.urlopen(request) as response:
                answers.append(json.loads(response.read())["predictions"])
        assert all(np.allclose(a, answers[0], atol=1e-5) for a in answers) and np.shape(answers[0]) == (2, 4)
        try:
            urllib.request.urlopen(f"{base}/labels/beta")
            raise AssertionError("an unknown label answered")
        except urllib.error.HTTPError as error:
            assert error.code == 404 and "label beta" in json.loads(error.read())["error"]
    finally:
        assert stop(process) == 0
    assert "12 warmup requests replayed" in process.stderr.read()  # 6 samples for each of the 2 versions


def test_serve_and_endpoint_bad_input_is_one_line(cli, source, tmp_path):
    from deploy_helpers import free_port

    missing = cli("serve", tmp_path / "nothing.onnx")
    assert missing.exit_code == 2 and "nothing.onnx: does not exist" in missing.stderr
    closed = cli("validate", source, "--endpoint", f"http://127.0.0.1:{free_port()}", "--protocol", "v2")
    assert closed.exit_code == 2 and "no answer" in closed.stderr and "is the server running?" in closed.stderr
    wrong = cli("validate", source, "--endpoint", "ftp://x", "--protocol", "v2")
    assert wrong.exit_code == 2 and "expected an http:// or https:// URL" in wrong.stderr
    assert "Traceback" not in missing.output + closed.output + wrong.output
