"""convert --precision: the float32 artifact first, then the low-precision build judged by its budget on its data."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow

MODELS = '''
import torch


class Overflowing(torch.nn.Module):
    """A LayerNorm written out over large activations: its squares pass float16's 65504."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(128, 128)

    def forward(self, x):
        h = self.proj(x) * 300.0
        centered = h - h.mean(-1, keepdim=True)
        variance = (centered * centered).mean(-1, keepdim=True)
        return centered / torch.sqrt(variance + 1e-5)


class Classifier(torch.nn.Module):
    """A small conv classifier: [batch, 10] logits."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, stride=2),
            torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Linear(16, 10)

    def forward(self, image):
        return self.head(self.features(image))


def overflowing():
    torch.manual_seed(0)
    return Overflowing().eval(), (torch.randn(4, 128),)


def classifier():
    torch.manual_seed(0)
    return Classifier().eval(), (torch.randn(2, 3, 16, 16),)
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("precision-models")
    (folder / "models.py").write_text(MODELS)
    rng = np.random.default_rng(1)
    np.savez(folder / "calibration.npz", image=rng.standard_normal((16, 3, 16, 16)).astype("float32"))
    np.savez(folder / "held_out.npz", image=np.random.default_rng(2).standard_normal((40, 3, 16, 16)).astype("float32"))
    np.savez(folder / "wrong_shape.npz", image=rng.standard_normal((4, 3, 8, 8)).astype("float32"))
    return folder


def _json(result) -> dict:
    return json.loads(result.stdout)


def test_fp16_overflow_fails_its_budget_and_names_the_node(cli, models, tmp_path):
    result = cli("convert", f"{models / 'models.py'}:overflowing", "--to", "onnx", "--precision", "fp16",
                 "-o", tmp_path / "m.onnx", "--json")
    assert result.exit_code == 1, result.output
    report = _json(result)
    assert report["precision"]["float_passed"] is True  # the float32 conversion itself is right
    assert not (tmp_path / "m.onnx").exists()
    output = report["validation"]["devices"][0]["outputs"][0]
    budget = [(m["name"], m["threshold"]) for m in output["metrics"]]
    assert budget == [("cosine", 0.999), ("norm", 0.99)] and not output["passed"]
    assert output["metrics"][0]["value"] < 0.5  # the overflow wipes the output out
    worst = report["precision"]["worst_layers"][0]  # the layer to blame, named
    assert worst["op_type"] in ("Mul", "Pow") and "overflows float16" in worst["detail"]


def test_fp16_budget_auto_keeps_the_overflowing_subgraph_in_float32(cli, models, tmp_path):
    out = tmp_path / "m.onnx"
    result = cli("convert", f"{models / 'models.py'}:overflowing", "--to", "onnx", "--precision", "fp16",
                 "--budget", "auto", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    precision = _json(result)["precision"]
    kept = precision["kept_float"]
    assert kept and any("overflow" in layer["detail"] for layer in kept)
    assert precision["budget_note"].startswith("met by keeping")
    import onnx

    model = onnx.load(str(out))
    by_name = {node.name: node for node in model.graph.node}
    assert all(layer["name"] in by_name for layer in kept)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float I/O by default
    halves = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert halves, "the layers not kept are float16"
    assert set(precision["latency_ms"]) == {"4"}  # the traced batch: the input's batch dim is fixed
    assert 0 < precision["size_ratio"] < 1


def test_the_terminal_report_says_what_was_kept_and_bought(cli, models, tmp_path):
    result = cli("convert", f"{models / 'models.py'}:overflowing", "--to", "onnx", "--precision", "fp16",
                 "--budget", "auto", "-o", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.output
    assert "float32 PASSED" in result.output and "budget auto: met by keeping" in result.output
    assert "kept in float32:" in result.output and "overflows float16" in result.output
    assert "x the float32 artifact's" in result.output  # size and latency against the float artifact


def test_int8_with_calibration_judged_on_held_out_data(cli, models, tmp_path):
    out = tmp_path / "c.onnx"
    result = cli("convert", f"{models / 'models.py'}:classifier", "--to", "onnx", "--precision", "int8",
                 "--calibration", models / "calibration.npz", "--eval", models / "held_out.npz", "-o", out,
                 "--input", "image:batch,3,16,16", "--json")
    report = _json(result)
    output = report["validation"]["devices"][0]["outputs"][0]
    budget = [(m["name"], m["threshold"]) for m in output["metrics"]]
    assert budget == [("argmax", 0.99), ("cosine", 0.95), ("norm", 0.9)]  # its decisions, and not by luck
    assert report["precision"]["data"].startswith("your --eval data")
    assert report["validation"]["samples"][0]["shapes"]["image"] == [40, 3, 16, 16]
    assert set(report["precision"]["latency_ms"]) == {"1", "8"}
    agreement = output["metrics"][0]["value"]
    assert (result.exit_code == 0) == (agreement >= 0.99), result.output
    if result.exit_code == 0:
        import onnx

        assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in onnx.load(str(out)).graph.node}


@pytest.mark.parametrize(("extra", "expected"), [
    (("--precision", "int8"), "needs --calibration"),
    (("--precision", "int4"), "--precision int4: expected one of"),
    (("--budget", "auto"), "apply to a low-precision build"),
    (("--precision", "int8-dynamic", "--to", "savedmodel"), "not available"),
    (("--precision", "fp16", "--io-types", "half"), "--io-types half: expected one of"),
    (("--precision", "int8-dynamic", "--io-types", "native"), "keeps float inputs and outputs"),
])
def test_bad_precision_options_are_one_line_before_anything_loads(cli, models, tmp_path, extra, expected):
    result = cli("convert", tmp_path / "missing.py:nothing", "-o", tmp_path / "x", *extra)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("target", ["onnx", "pt2"])
def test_native_half_io_is_written_and_judged_by_its_values(cli, models, tmp_path, target):
    out = tmp_path / f"c.{target}"
    result = cli("convert", f"{models / 'models.py'}:classifier", "--to", target, "--precision", "fp16",
                 "--io-types", "native", "--input", "image:batch,3,16,16", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    report = _json(result)
    assert report["precision"]["io_types"] == "native" and set(report["precision"]["latency_ms"]) == {"1", "8"}
    if target == "onnx":
        import onnx

        model = onnx.load(str(out))
        assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16


def test_data_for_a_fixed_batch_is_cut_into_batches_of_its_size(cli, models, tmp_path):
    result = cli("convert", f"{models / 'models.py'}:classifier", "--to", "onnx", "--precision", "int8",
                 "--calibration", models / "calibration.npz", "--eval", models / "held_out.npz", "-o",
                 tmp_path / "c.onnx", "--json")  # traced at batch 2, fixed
    samples = _json(result)["validation"]["samples"]
    assert len(samples) == 20 and {tuple(s["shapes"]["image"]) for s in samples} == {(2, 3, 16, 16)}


def test_calibration_that_does_not_fit_the_inputs_is_refused(cli, models, tmp_path):
    result = cli("convert", f"{models / 'models.py'}:classifier", "--to", "onnx", "--precision", "int8",
                 "--calibration", models / "wrong_shape.npz", "-o", tmp_path / "c.onnx")
    assert result.exit_code == 2, result.output
    assert "'image' has shape [4, 3, 8, 8]" in result.output
    assert not (tmp_path / "c.onnx").exists()


def test_a_runtime_that_cannot_be_timed_is_said_not_fatal(cli, models, tmp_path, monkeypatch):
    from converter.pipelines import convert as pipeline

    def fails(*args, **kwargs):
        raise RuntimeError("Node number 114 (TfLiteXNNPackDelegate) failed to prepare")

    monkeypatch.setattr(pipeline, "side_by_side", fails)
    result = cli("convert", f"{models / 'models.py'}:classifier", "--to", "onnx", "--precision", "fp16",
                 "-o", tmp_path / "c.onnx")
    assert result.exit_code == 0, result.output
    assert "latency not measured: Node number 114" in result.output and (tmp_path / "c.onnx").exists()
