"""converter/pipelines/convert.py: the source framework runs on the samples, then is freed, before the target."""

from __future__ import annotations

import dataclasses
import time
import weakref

import onnx
import pytest
from onnx import TensorProto, helper

from converter.core import external_data
from converter.core.errors import GraphtoolError
from converter.core.types import LoadOptions
from converter.pipelines import convert as pipeline
from converter.sources import load
from converter.targets.artifacts import target_named


def _mlp_loader(held: list):
    """Loads a seeded torch MLP built inside the call (nothing else holds it); `held` gets a weakref to a weight."""
    torch = pytest.importorskip("torch")

    def build():
        torch.manual_seed(0)
        module = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)).eval()
        held.append(weakref.ref(module[0].weight))
        return load((module, (torch.randn(2, 16),)), LoadOptions())

    return build


@pytest.mark.parametrize(("threshold", "freed"), [("0", True), (None, False)])  # weights moved out (as past 1 GiB)
def test_a_large_torch_source_is_freed_before_the_target_is_built(tmp_path, monkeypatch, threshold, freed):
    if threshold is not None:
        monkeypatch.setenv(external_data.THRESHOLD_ENV, threshold)
    held: list = []
    alive_at_write: list = []
    real = target_named("onnx")

    def write(loaded, path, force):
        alive_at_write.append(held[0]() is not None)
        return real.write(loaded, path, force)

    monkeypatch.setattr(pipeline, "target_named", lambda name: dataclasses.replace(real, write=write))
    result = pipeline.convert(_mlp_loader(held), "onnx", tmp_path / "mlp.onnx")
    assert result, result.report.to_dict()
    assert alive_at_write == [not freed]
    assert result.report.reference == "torch" and len(result.report.samples) == 6  # 3 seeded, then the exercises
    stages = list(result.timings)
    assert stages.index("reference") < stages.index("write") < stages.index("validation")


def test_without_validation_the_source_is_not_run(tmp_path):
    result = pipeline.convert(_mlp_loader([]), "onnx", tmp_path / "mlp.onnx", validate=False)
    assert result.report is None and "reference" not in result.timings


def _relu_onnx(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    source = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), source)
    return source


def test_an_onnx_source_has_no_reference_stage(tmp_path):
    result = pipeline.convert_source(_relu_onnx(tmp_path), "onnx", tmp_path / "out.onnx")
    assert result and "reference" not in result.timings
    assert result.report.reference == "onnxruntime CPUExecutionProvider"  # run during validation, as before


def test_a_writer_that_never_ends_is_stopped_by_the_timeout(tmp_path, monkeypatch):
    """Even one that tries strategy after strategy, each failure caught (as write_pt2 and write_torchscript do)."""
    real = target_named("onnx")
    caught: list[str] = []

    def write(loaded, path, force):
        for _strategy in range(3):
            give_up = time.monotonic() + 20  # the test's own bound: without the deadline it fails, never hangs
            try:
                while time.monotonic() < give_up:
                    sum(range(10_000))  # a conversion step that does not end
            except Exception as exc:  # noqa: BLE001 - the next strategy is tried, as write_pt2's are
                caught.append(str(exc))
        return real.write(loaded, path, force)

    monkeypatch.setattr(pipeline, "target_named", lambda name: dataclasses.replace(real, write=write))
    start = time.monotonic()
    with pytest.raises(GraphtoolError, match=r"converting to onnx did not finish within 0\.5 s \(--timeout\)"):
        pipeline.convert_source(_relu_onnx(tmp_path), "onnx", tmp_path / "out.onnx", LoadOptions(timeout=0.5))
    assert time.monotonic() - start < 15
    assert caught == []  # the interruption is no Exception: no strategy's `except Exception` swallows it
    assert not (tmp_path / "out.onnx").exists()


def test_one_loaded_model_to_several_targets_is_each_judged_against_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv(external_data.THRESHOLD_ENV, "0")  # large enough to be released once recorded
    loaded = _mlp_loader([])()
    recorded = pipeline.record_and_release(loaded, 3, False)
    with pytest.raises(GraphtoolError, match="released after convert recorded its answers"):
        loaded.reference(loaded.example_inputs)  # a clear error, never the ONNX standing in for the source
    for target, name in (("onnx", "mlp.onnx"), ("torchscript", "mlp.ts")):
        result = pipeline.convert(lambda: loaded, target, tmp_path / name, recorded=recorded)
        assert result and result.report.reference == "torch", (target, result.report.to_dict())


def test_a_small_source_still_runs_after_convert(tmp_path):
    from converter.validation.engine import validate

    loaded = _mlp_loader([])()
    assert pipeline.convert(lambda: loaded, "onnx", tmp_path / "mlp.onnx")
    report = validate(loaded, samples=2)  # the loaded model, validated again afterwards: still against torch
    assert report and report.reference == "torch"
