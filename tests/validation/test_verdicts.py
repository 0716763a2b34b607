"""Verdicts: the scale-aware rule, inconclusive checks, failed runs, task metrics and the mismatch diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from validation_models import two_outputs

from converter import api
from converter.api import validate
from converter.core.runners import Runner
from converter.validation.engine import compare_sides, side_of
from converter.validation.metrics import measure
from converter.validation.samples import Sample
from converter.validation.tolerance import DTYPE_DEFAULTS, Tolerance, Tolerances, load_tolerance_file
from converter.validation.verdicts import Evidence, diagnose

F32 = DTYPE_DEFAULTS["float32"]


def _linear(weight: np.ndarray, name: str = "y", after: str | None = None, scale: float = 1.0) -> onnx.ModelProto:
    """x[batch, k] -> (x @ weight) * scale, then `after` (an elementwise op) if given."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Mul", ["h", "s"], ["m"])]
    nodes.append(helper.make_node(after, ["m"], [name]) if after else helper.make_node("Identity", ["m"], [name]))
    graph = helper.make_graph(
        nodes, "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", weight.shape[0]])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", weight.shape[1]])],
        [numpy_helper.from_array(weight.astype(np.float32), "w"), numpy_helper.from_array(np.float32([scale]), "s")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def _weights(seed: int = 0, shape=(8, 6)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _flow(seed: int = 0) -> np.ndarray:
    """Like RAFT's optical flow: values up to ~19, many near zero."""
    rng = np.random.default_rng(seed)
    flow = rng.standard_normal((1, 2, 32, 32)) * 0.01
    flow[:, :, 8:16, 8:16] = rng.uniform(-19.3, 19.3, (1, 2, 8, 8))
    return flow.astype(np.float32)


def test_raft_like_flow_passes_with_defaults_and_a_real_error_fails():
    expected = _flow()
    noise = np.random.default_rng(1).uniform(-3e-5, 3e-5, expected.shape).astype(np.float32)
    metrics = measure("flow", expected + noise, expected, F32)
    assert metrics.passed and metrics.max_abs == pytest.approx(3e-5, rel=0.05)
    assert metrics.cosine == pytest.approx(1.0, abs=1e-9) and metrics.scale == pytest.approx(19.3, rel=0.05)
    # the old rule (atol 1e-5 unscaled) failed this: near-zero elements with 3e-5 of rounding noise
    assert (np.abs(noise) > F32.atol + F32.rtol * np.abs(expected)).any()
    wrong = expected.copy()
    wrong[0, 0, 0, 0] += 19.3 * 1e-3  # one element off by 1e-3 of the scale
    assert not measure("flow", wrong, expected, F32).passed


@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_residual_near_zero_output_passes_float32_noise_and_fails_a_planted_error(scale):
    rng = np.random.default_rng(0)
    expected = rng.standard_normal((4, 64)) * 1e-3  # a residual's output: large terms that nearly cancel
    expected[0, :4] = scale * np.array([1.0, -0.5, 0.25, 0.9])  # ... and a few that do not
    expected = expected.astype(np.float32)
    noisy = expected + (rng.uniform(-1, 1, expected.shape) * 1e-6 * scale).astype(np.float32)
    assert measure("y", noisy, expected, F32).passed
    planted = expected.copy()
    planted[1, 3] += np.float32(5e-5 * scale)  # a near-zero element off by 5e-5 of the scale
    failed = measure("y", planted, expected, F32)
    assert not failed.passed and failed.outside_fraction == pytest.approx(1 / expected.size)


def _constant_runner(name: str, offset: float) -> Runner:
    return Runner(name, "cpu", lambda feeds: [np.asarray(feeds["x"], np.float32) * 0 + np.float32(offset)
                                              + np.arange(4, dtype=np.float32)])


def test_a_failing_sample_is_judged_against_its_measured_noise_floor():
    from converter.core.types import LoadedModel, SourceInfo

    loaded = LoadedModel(two_outputs(), SourceInfo("m.onnx", "onnx", "onnx"))
    sample = Sample(0, {"x": np.zeros((1, 4), np.float32)}, {}, kind="zeros")
    expected = side_of(loaded, _constant_runner("source", 0.0))
    noise = (_constant_runner("first runtime", 0.0), _constant_runner("second runtime", 1e-3))  # they disagree
    for offset, verdict in ((2e-3, "passed"), (1e-2, "failed")):
        report = compare_sides(expected, [side_of(loaded, _constant_runner("artifact", offset))], [sample],
                               Tolerances(), noise=noise)
        (output,) = report.devices[0].outputs[:1]
        assert output.verdict == verdict
        assert output.noise == ("sample 0 (zeros): float32 noise floor 0.001 (the reference with its inputs moved "
                                "by one ulp; first runtime against second runtime); judged within 4x it",)
    report = compare_sides(expected, [side_of(loaded, _constant_runner("artifact", 2e-3))], [sample], Tolerances())
    assert report.devices[0].outputs[0].verdict == "failed"  # no second runtime: the floor is the source's own


@pytest.mark.parametrize(("stat", "passes"), [("elementwise", False), ("max", False), ("mean", True),
                                              ("cosine", True)])
def test_error_stats_judge_what_they_say(stat, passes):
    expected = np.linspace(-1, 1, 1000, dtype=np.float32)
    actual = expected.copy()
    actual[10] += 1e-3  # one element off: the mean and the cosine hardly move
    metrics = measure("y", actual, expected, Tolerance(F32.rtol, F32.atol, stat))
    assert metrics.passed is passes


def test_tiny_outputs_are_inconclusive_and_exit_1_unless_allowed(cli, tmp_path):
    onnx.save(_linear(_weights(), scale=1e-9), tmp_path / "tiny.onnx")
    result = cli("validate", tmp_path / "tiny.onnx")
    assert result.exit_code == 1, result.output
    assert "INCONCLUSIVE: output 'y': output is ~0 (max |e| " in result.output
    assert "give real weights or --inputs" in result.output and "PASSED" not in result.output
    allowed = cli("validate", tmp_path / "tiny.onnx", "--allow-inconclusive", "--json")
    assert allowed.exit_code == 0
    document = json.loads(allowed.stdout)
    assert document["verdict"] == "inconclusive" and document["passed"] is True
    assert document["devices"][0]["outputs"][0]["verdict"] == "inconclusive"
    assert "INCONCLUSIVE (allowed" in cli("validate", tmp_path / "tiny.onnx", "--allow-inconclusive").output


def test_convert_and_package_take_the_judging_options(cli, tmp_path):
    onnx.save(_linear(_weights(), scale=1e-9), tmp_path / "tiny.onnx")
    out = tmp_path / "out.onnx"
    refused = cli("convert", tmp_path / "tiny.onnx", "-o", out)
    assert refused.exit_code == 1 and "INCONCLUSIVE: output 'y': output is ~0" in refused.output
    assert not out.exists()
    kept = cli("convert", tmp_path / "tiny.onnx", "-o", out, "--allow-inconclusive", "--atol", "1e-4")
    assert kept.exit_code == 0 and out.exists() and "INCONCLUSIVE (allowed" in kept.output
    assert "0.0001 / 0.0001" in kept.output  # --atol reached the table
    (tmp_path / "t.json").write_text('{"y": {"metric": "top5"}}')
    for command in (("convert", tmp_path / "tiny.onnx", "-o", tmp_path / "o2.onnx"),
                    ("package", tmp_path / "tiny.onnx", "--for", "triton", "-o", tmp_path / "repo")):
        bad = cli(*command, "--tolerance", tmp_path / "t.json")
        assert bad.exit_code == 2 and "metric top5: expected cosine, argmax, topk:K, iou or norm" in bad.stderr


def test_an_output_that_ignores_its_input_is_inconclusive(tmp_path):
    nodes = [helper.make_node("Mul", ["x", "zero"], ["z"]), helper.make_node("Add", ["z", "c"], ["y"])]
    graph = helper.make_graph(
        nodes, "constant", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.float32([0.0]), "zero"), numpy_helper.from_array(np.float32([1, 2, 3]), "c")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10),
              tmp_path / "c.onnx")
    report = validate(str(tmp_path / "c.onnx"))
    assert not report and report.verdict == "inconclusive"
    assert "output ignores its input (the same on 5 different samples)" in report.verdict_line


def test_an_artifact_that_raises_is_failed_to_run_with_its_reason(cli, tmp_path):
    onnx.save(two_outputs(), tmp_path / "a.onnx")
    fixed = two_outputs()  # a Reshape to batch 2: raises at the other batch sizes
    fixed.graph.initializer.append(numpy_helper.from_array(np.int64([2, 4]), "shape"))
    fixed.graph.node.insert(0, helper.make_node("Reshape", ["x", "shape"], ["x2"], name="fixed_reshape"))
    for node in fixed.graph.node[1:]:
        node.input[0] = "x2" if node.input[0] == "x" else node.input[0]
    onnx.save(fixed, tmp_path / "b.onnx")
    result = cli("validate", tmp_path / "a.onnx", "--against", tmp_path / "b.onnx", "--report", tmp_path / "r.json")
    assert result.exit_code == 1
    assert "FAILED TO RUN" in result.output and "differ beyond tolerance" not in result.output
    final = result.output.strip().splitlines()[-1]
    assert final.startswith("FAILED TO RUN: sample 1: onnxruntime") and "fixed_reshape" in final
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdict"] == "failed-to-run" and report["devices"][0]["status"] == "failed-to-run"
    assert {o["verdict"] for o in report["devices"][0]["outputs"]} == {"failed-to-run"}


def test_a_raising_runner_never_reads_as_a_mismatch():
    loaded_model = two_outputs()

    def dies(feeds):
        raise MemoryError("out of memory allocating 4 GiB in node 'conv7' (Conv), shape [1, 512, 512, 64]")

    from converter.core.types import LoadedModel, SourceInfo

    loaded = LoadedModel(loaded_model, SourceInfo("m.onnx", "onnx", "onnx"),
                         example_inputs={"x": np.ones((2, 4), np.float32)})
    sample = Sample(0, {"x": np.ones((2, 4), np.float32)}, {})
    report = compare_sides(side_of(loaded), [side_of(loaded, Runner("artifact", "cpu", dies))], [sample],
                           Tolerances())
    assert report.verdict == "failed-to-run"
    assert report.verdict_line == ("FAILED TO RUN: sample 0: artifact failed: MemoryError: out of memory "
                                   "allocating 4 GiB in node 'conv7' (Conv), shape [1, 512, 512, 64]")


def test_argmax_metric_passes_a_kept_class_and_fails_a_planted_miss(cli, tmp_path):
    weight = _weights(3, (8, 10))
    onnx.save(_linear(weight, "logits"), tmp_path / "a.onnx")
    nudged = weight * np.float32(1.001)  # every logit moves 1e-3 relative: elementwise fails, classes stay
    onnx.save(_linear(nudged, "logits"), tmp_path / "b.onnx")
    swapped = weight[:, ::-1]  # the classes in reverse order: a planted miss
    onnx.save(_linear(swapped, "logits"), tmp_path / "c.onnx")
    assert cli("validate", tmp_path / "a.onnx", "--against", tmp_path / "b.onnx").exit_code == 1
    kept = cli("validate", tmp_path / "a.onnx", "--against", tmp_path / "b.onnx", "--metric", "argmax")
    assert kept.exit_code == 0, kept.output
    assert "argmax 1 (>= 1)" in kept.output
    missed = cli("validate", tmp_path / "a.onnx", "--against", tmp_path / "c.onnx", "--metric", "argmax", "--json")
    assert missed.exit_code == 1
    (metric,) = json.loads(missed.stdout)["devices"][0]["outputs"][0]["metrics"]
    assert metric["name"] == "argmax" and metric["passed"] is False and metric["value"] < 1.0


def test_cosine_metric_from_a_tolerance_file_fails_a_planted_miss(tmp_path):
    weight = _weights(4, (8, 16))
    onnx.save(_linear(weight, "hidden", "Tanh"), tmp_path / "a.onnx")
    close = weight + np.random.default_rng(5).standard_normal(weight.shape).astype(np.float32) * 1e-4
    far = weight + np.random.default_rng(5).standard_normal(weight.shape).astype(np.float32) * 0.1
    onnx.save(_linear(close, "hidden", "Tanh"), tmp_path / "b.onnx")
    onnx.save(_linear(far, "hidden", "Tanh"), tmp_path / "c.onnx")
    (tmp_path / "t.yaml").write_text("hidden:\n  metric: cosine>=0.9999\n")
    tolerances = Tolerances(per_output=load_tolerance_file(tmp_path / "t.yaml"))
    assert validate(str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx"), tolerances=tolerances)
    missed = validate(str(tmp_path / "a.onnx"), str(tmp_path / "c.onnx"), tolerances=tolerances)
    (metric,) = missed.devices[0].outputs[0].task
    assert not missed and metric.name == "cosine" and metric.value < 0.9999 and metric.threshold == 0.9999


def test_iou_of_boxes_and_masks():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 25]], np.float32)
    assert measure("boxes", boxes + 1e-4, boxes, Tolerance(1e-4, 1e-5, metrics=("iou",))).passed
    shifted = boxes.copy()
    shifted[0] += 1  # one box moved by a tenth of its size: IoU 81/119
    (iou,) = measure("boxes", shifted, boxes, Tolerance(1e-4, 1e-5, metrics=("iou",))).task
    assert iou.value == pytest.approx(81 / 119) and not iou.passed
    mask = np.zeros((1, 1, 8, 8), np.float32)
    mask[..., 2:6, 2:6] = 0.9
    grown = mask.copy()
    grown[..., 6, 2:6] = 0.9  # 4 more foreground pixels: IoU 16/20
    (iou,) = measure("mask", grown, mask, Tolerance(1e-4, 1e-5, metrics=("iou>=0.75",))).task
    assert iou.value == pytest.approx(0.8) and iou.passed and iou.threshold == 0.75


def test_bad_metric_and_error_stat_are_exit_2(cli, tmp_path):
    onnx.save(two_outputs(), tmp_path / "a.onnx")
    for args in (("--metric", "top5"), ("--error-stat", "median")):
        result = cli("validate", tmp_path / "a.onnx", *args)
        assert result.exit_code == 2 and args[1] in result.stderr


def test_diagnosis_names_the_one_output_that_differs(tmp_path):
    onnx.save(two_outputs(0.0), tmp_path / "a.onnx")
    onnx.save(two_outputs(1e-3), tmp_path / "b.onnx")
    report = validate(str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx"))
    assert "only 'first' differs; the other 1 output(s) agree" in report.devices[0].diagnosis


def test_diagnosis_of_a_scale_problem_and_of_one_sample():
    evidence = Evidence()
    samples = [Sample(0, {"x": np.ones(3)}, {"batch": 2}), Sample(1, {"x": np.zeros(3)}, {"batch": 3})]
    expected = np.linspace(1, 10, 40, dtype=np.float32)
    evidence.add("y", samples[1], expected * np.float32(1.5), expected, F32, None)
    failed = measure("y", expected * np.float32(1.5), expected, F32, sample=1)
    lines = diagnose(evidence, [failed.__class__(**{**failed.__dict__, "verdict": "failed"})], samples)
    assert "'y' is 1.5 x expected: a scale problem" in lines
    assert any(line.startswith("differences only on sample 1") and "dynamic-dim" in line for line in lines)


def test_diagnosis_of_an_error_that_grows_with_magnitude():
    evidence = Evidence()
    sample = Sample(0, {"x": np.ones(3)}, {})
    expected = np.linspace(-10, 10, 200).astype(np.float32)
    actual = expected + np.float32(1e-3) * expected**2  # not a multiple: grows with |expected|
    evidence.add("y", sample, actual, expected, F32, None)
    failed = measure("y", actual, expected, F32)
    (line,) = diagnose(evidence, [failed.__class__(**{**failed.__dict__, "verdict": "failed"})], [sample])
    assert line.startswith("the error of 'y' grows with |expected| (correlation 0.9")


def test_diagnosis_of_differences_at_masked_positions():
    evidence = Evidence()
    mask = np.array([[False, False, True], [False, True, True]])  # [batch, seq], True = padding
    sample = Sample(0, {"src": np.ones((3, 2, 4), np.float32), "src_key_padding_mask": mask}, {})
    expected = np.random.default_rng(0).standard_normal((3, 2, 4)).astype(np.float32)  # [seq, batch, dim]
    actual = expected.copy()
    actual[mask.T] = 0.0  # a fast path that zeroes the padded positions
    evidence.add("out", sample, actual, expected, F32, None)
    failed = measure("out", actual, expected, F32)
    (line, *_) = diagnose(evidence, [failed.__class__(**{**failed.__dict__, "verdict": "failed"})], [sample])
    assert line.startswith("every differing element of 'out' (")
    assert "mask input 'src_key_padding_mask' is nonzero" in line


def test_inputs_file_keeps_the_extra_samples(cli, tmp_path):
    onnx.save(two_outputs(), tmp_path / "a.onnx")
    np.savez(tmp_path / "x.npz", x=np.arange(8, dtype=np.float32).reshape(2, 4))
    document = json.loads(cli("validate", tmp_path / "a.onnx", "--inputs", tmp_path / "x.npz", "--json").stdout)
    labels = [s["label"] for s in document["samples"]]
    assert labels[0].startswith("your --inputs data") and len(labels) == 3 + 3
    assert any("your --inputs data scaled" in label for label in labels)


MODELS = Path(__file__).resolve().parents[1] / "verdict_models.py"


def _planted(model: onnx.ModelProto, relative: float = 1e-3) -> onnx.ModelProto:
    """A copy with the first Conv's weights off by `relative`."""
    changed = onnx.ModelProto()
    changed.CopyFrom(model)
    conv = next(n for n in changed.graph.node if n.op_type == "Conv")
    weight = next(t for t in changed.graph.initializer if t.name == conv.input[1])
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * np.float32(1 + relative), weight.name))
    return changed


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet", "mobilenet_v3", "shufflenet", "mixer", "repvit", "deeplabv3"])
def test_onnx_to_savedmodel_passes_every_sample_and_a_planted_conv_error_fails(tmp_path, name):
    from converter.targets.artifacts import target_named
    from converter.validation.engine import validate_artifact

    loaded = api.load(f"{MODELS}:{name}")
    onnx.save(loaded.model, tmp_path / "m.onnx")
    good = api.convert(str(tmp_path / "m.onnx"), "savedmodel", tmp_path / "good")
    assert good and good.report.verdict == "passed", good.report.to_dict()
    assert len(good.report.samples) == 6  # traced, two draws, negated, scaled, zeros
    onnx.save(_planted(loaded.model), tmp_path / "bad.onnx")
    bad = api.convert(str(tmp_path / "bad.onnx"), "savedmodel", tmp_path / "bad", validate=False)
    source = api.load(str(tmp_path / "m.onnx"))
    runner = target_named("savedmodel").runner(tmp_path / "bad", source, bad.artifact)
    report = validate_artifact(source, runner, 3, Tolerances())
    assert report.verdict == "failed"
    (output,) = report.devices[0].outputs
    allowed = output.tolerance.atol * output.scale
    assert max(o.max_abs for o in good.report.devices[0].outputs) < allowed / 10 < output.max_abs / 10


@pytest.mark.slow
def test_an_ill_conditioned_sample_is_judged_against_its_noise_floor(tmp_path):
    result = api.convert(f"{MODELS}:flat_under_zeros", "savedmodel", tmp_path / "flat")
    assert result and result.report.verdict == "passed", result.report.to_dict()
    for line in result.report.devices[0].outputs[0].noise:  # where TF's rounding differed beyond the tolerance
        assert "float32 noise floor" in line and "onnxruntime CPUExecutionProvider against onnx" in line


@pytest.mark.slow
def test_transformer_encoder_padding_mask_mismatch_is_diagnosed(cli):
    result = cli("validate", f"{MODELS}:padded_encoder")
    assert result.exit_code == 1
    assert ("is at a position where the mask input 'src_key_padding_mask' is nonzero (True: padding, for a "
            "key_padding_mask): the sides disagree only at masked positions") in result.output
    assert "FAILED: outputs differ beyond tolerance" in result.output


def test_a_batch_manifest_takes_the_judging_keys(tmp_path):
    from converter.batch.manifest import read_manifest
    from converter.batch.tasks import run_task

    (tmp_path / "tiny.onnx").write_bytes(_linear(_weights(), scale=1e-9).SerializeToString())
    options = "{error_stat: max, metric: 'cosine>=0.99', allow_inconclusive: true}"
    (tmp_path / "m.yaml").write_text(f"models: [{{model: tiny.onnx, targets: [onnx], options: {options}}},\n"
                                     "  {model: tiny.onnx, name: strict, targets: [onnx], options: {samples: 2}}]\n")
    allowed, refused = read_manifest(tmp_path / "m.yaml").tasks
    assert allowed.options == {"error_stat": "max", "metric": "cosine>=0.99", "allow_inconclusive": True}
    row = run_task({**allowed.to_dict(), "slug": allowed.slug}, str(tmp_path / "a"))["row"]
    assert row["status"] == "pass", row
    row = run_task({**refused.to_dict(), "slug": refused.slug}, str(tmp_path / "b"))["row"]
    assert row["status"] == "fail" and row["reason"].startswith("cpu: output 'y' inconclusive: output is ~0")
