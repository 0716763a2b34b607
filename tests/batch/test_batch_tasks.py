"""A batch task in this process, without Ray: the convert pipeline api.convert runs, with the manifest's options."""

from __future__ import annotations

import json

from batch_helpers import onnx_model

from converter import api
from converter.batch import read_manifest
from converter.batch.tasks import run_task


def _task(tmp_path, entry: str) -> dict:
    (tmp_path / "m.yaml").write_text(f"models: [{entry}]\n")
    task = read_manifest(tmp_path / "m.yaml").tasks[0]
    return {**task.to_dict(), "slug": task.slug}


def test_a_task_converts_as_api_convert_does(tmp_path):
    onnx_model(tmp_path / "a.onnx")
    (tmp_path / "tol.json").write_text(json.dumps({"y": {"atol": 0.5}}))
    task = _task(tmp_path, "{model: a.onnx, input: ['x:2,4'], samples: 2, options: {from: onnx, tolerance: tol.json}}")
    document = run_task(task, str(tmp_path / "artifacts"))
    assert document["row"]["status"] == "pass", document["row"]
    converted = document["convert"]
    assert converted["output"] == str(tmp_path / "artifacts" / (task["slug"] + ".onnx"))
    assert converted["source"]["format"] == "onnx"
    assert converted["validation"]["devices"][0]["outputs"][0]["atol"] == 0.5
    direct = api.convert(tmp_path / "a.onnx", "onnx", tmp_path / "direct.onnx", api.LoadOptions(["x:2,4"]), samples=2,
                         tolerances=api.tolerances(file=tmp_path / "tol.json")).to_dict()
    for part in ("samples", "devices"):
        assert direct["validation"][part] == converted["validation"][part]
    three = api.convert(tmp_path / "a.onnx", "onnx", tmp_path / "three.onnx", api.LoadOptions(["x:2,4"]))
    assert len(three.report.samples) != len(direct["validation"]["samples"])  # the manifest's samples: 2 counted


def test_a_task_that_cannot_load_is_an_error_row(tmp_path):
    onnx_model(tmp_path / "a.onnx")
    document = run_task(_task(tmp_path, "{model: a.onnx, options: {from: keras, validate: false}}"),
                        str(tmp_path / "artifacts"))
    assert document["row"]["status"] == "error" and document["convert"] is None
    assert "\n" not in document["row"]["reason"]


def test_a_precision_row_says_its_precision_and_resumes(tmp_path):
    import numpy as np
    from deploy_helpers import mlp_onnx

    from converter.batch.runner import BatchOptions, result_path, run_batch
    from converter.batch.summary import write_json

    mlp_onnx(tmp_path / "mlp.onnx")
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(1).standard_normal((16, 16)).astype(np.float32))
    (tmp_path / "m.yaml").write_text("models:\n  - {model: mlp.onnx, input: ['x:2,16'], targets: [onnx], "
                                     "options: {precision: int8, calibration: calib.npz}}\n")
    manifest = read_manifest(tmp_path / "m.yaml")
    task = manifest.tasks[0]
    document = run_task({**task.to_dict(), "slug": task.slug}, str(tmp_path / "out" / "artifacts"))
    row = document["row"]
    assert row["status"] == "pass" and row["precision"] == "int8", row
    assert document["convert"]["precision"] is not None  # the low-precision build was made and judged
    result_path(tmp_path / "out", task).parent.mkdir(parents=True)
    write_json(result_path(tmp_path / "out", task), document)  # as the runner keeps a finished row
    # --resume takes the finished row (no cluster starts: nothing is left to run) and the summary names the precision
    summary = run_batch(manifest, BatchOptions(tmp_path / "out", resume=True))
    assert [(r.status, r.precision, r.resumed) for r in summary.rows] == [("pass", "int8", True)]
    assert f"| {task.model} | onnx (int8) | pass |" in (tmp_path / "out" / "summary.md").read_text()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["rows"][0]["precision"] == "int8"
