"""graphtool validate: verdicts, located divergences, samples, tolerances, reports and plots."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, TORCH_DIR
from validation_models import CORRUPTIONS, two_outputs

from converter import api
from converter.api import validate
from converter.core.errors import GraphtoolError
from converter.core.runners import cuda_available
from converter.core.types import LoadOptions
from converter.validation.locate import Probe, identity_pairs, locate
from converter.validation.plot import write_plots
from converter.validation.samples import index_bounds, make_samples
from converter.validation.tolerance import Tolerance, Tolerances, load_tolerance_file


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("originals")
    paths = {}
    for name in ("cnn", "encoder"):
        model = api.load(f"{FIXTURES / 'torch_models.py'}:{name}").model
        paths[name] = folder / f"{name}.onnx"
        onnx.save(model, paths[name])
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_locate_names_the_corrupted_node(originals, tmp_path, corruption):
    original = originals[corruption.split("-")[0]]
    corrupted, node = CORRUPTIONS[corruption](onnx.load(original))
    path = tmp_path / "corrupted.onnx"
    onnx.save(corrupted, path)
    report = validate(str(original), str(path), locate=True)
    assert not report
    assert report.located is not None and report.located.node == node
    assert report.to_dict()["located"]["op_type"] == next(n.op_type for n in corrupted.graph.node if n.name == node)


@pytest.mark.slow
def test_locate_reports_the_error_at_the_inputs(originals, tmp_path):
    corrupted, node = CORRUPTIONS["cnn-weight"](onnx.load(originals["cnn"]))
    onnx.save(corrupted, tmp_path / "c.onnx")
    located = validate(str(originals["cnn"]), str(tmp_path / "c.onnx"), locate=True).located
    errors = {item.tensor: (item.kind, item.max_abs) for item in located.inputs}
    assert errors["block2.conv.weight"][0] == "weight" and errors["block2.conv.weight"][1] > 0.0
    assert errors["block2.conv.bias"] == ("weight", 0.0)
    assert [e for kind, e in errors.values() if kind == "activation"] == [0.0]
    assert located.scope.startswith("block")


@pytest.mark.slow
def test_identical_models_pass(originals):
    report = validate(str(originals["cnn"]), str(originals["cnn"]), locate=True)
    assert report and report.located is None


def _chain(length: int, broken_at: int | None = None) -> onnx.ModelProto:
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Neg" if i == broken_at else "Relu" if i % 2 else "Sin", [f"t{i}"], [f"t{i + 1}"],
                              name=f"n{i}") for i in range(length)]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info(f"t{length}", TensorProto.FLOAT, [2, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


@pytest.mark.parametrize("budget", [1, 2**30])
def test_locate_windows_stay_within_budget_and_find_the_node(budget):
    good, bad = _chain(40), _chain(40, broken_at=29)
    feeds = {"t0": np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)}
    located = locate(Probe(good, "cpu"), Probe(bad, "cpu"), identity_pairs(bad), (feeds, feeds), Tolerances(),
                     budget_bytes=budget)
    assert located.node == "n29" and located.op_type == "Neg"
    if budget == 1:  # one tensor per run: the last pair, then bisection over 40 (6 halvings), then n29's input
        assert located.windows <= 1 + 6 + 1 and located.compared <= 8
    else:  # the last pair, then one window exposing all 40
        assert located.windows == 2 and located.compared == 40


@pytest.mark.slow
def test_torch_source_passes_on_every_sample_size():
    report = validate(str(TORCH_DIR / "two_heads.pt2"), samples=4)
    assert report
    assert sorted({s.sizes["batch"] for s in report.samples}) == [1, 2, 3, 5]


@pytest.mark.slow
def test_model_that_only_works_at_its_traced_batch_is_caught(tmp_path):
    source = tmp_path / "fixed.py"
    source.write_text(
        "import torch\n"
        "class Fixed(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        batch = int(x.shape[0])  # baked into the trace as a constant\n"
        "        return x.reshape(batch, 2, 4).sum(1)\n"
        "def model():\n"
        "    return Fixed(), (torch.ones(2, 8),)\n"
    )
    options = LoadOptions(input_specs=("x:batch,8",), trace="torchscript")
    # caught right after capture: the source runs at another batch, the trace cannot
    with pytest.raises(GraphtoolError, match=r"torchscript: it fixed the dynamic output .* dim 0 \(fixed at 2, is 3\)"):
        validate(f"{source}:model", options=options)


def test_tolerances_per_output(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(two_outputs(0.0), a)
    onnx.save(two_outputs(1e-3), b)
    strict = validate(str(a), str(b))
    assert not strict
    assert [o.passed for o in strict.devices[0].outputs] == [False, True]
    (tmp_path / "tol.json").write_text(json.dumps({"first": {"atol": 2e-3}}))
    loose = Tolerances(per_output=load_tolerance_file(tmp_path / "tol.json"))
    assert validate(str(a), str(b), tolerances=loose)
    assert not validate(str(a), str(b), tolerances=Tolerances(per_output={"second": Tolerance(0, 1)}))


def test_tolerance_file_formats_and_errors(tmp_path):
    (tmp_path / "t.yaml").write_text("first:\n  rtol: 0.01\n  atol: 0.001\n")
    assert load_tolerance_file(tmp_path / "t.yaml") == {"first": Tolerance(0.01, 0.001)}
    for text, message in (("[1, 2]", "expected a mapping"), ('{"a": {"tol": 1}}', "rtol and/or atol"),
                          ('{"a": {"atol": "x"}}', "non-numeric"), ("{", "not valid JSON")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(GraphtoolError, match=message):
            load_tolerance_file(tmp_path / "bad.json")


def test_report_schema(tmp_path):
    onnx.save(two_outputs(), tmp_path / "m.onnx")
    document = validate(str(tmp_path / "m.onnx"), samples=2).to_dict()
    assert document["schema"] == "graphtool.validate/1" and document["passed"] is True
    assert document["reference"] == "onnx ReferenceEvaluator"
    output = document["devices"][0]["outputs"][0]
    for key, kind in (("max_abs", float), ("max_rel", float), ("mean_abs", float), ("cosine", float),
                      ("outside_fraction", float), ("rtol", float), ("atol", float), ("passed", bool)):
        assert isinstance(output[key], kind), key
    # traced (batch 2), seeded (batch 3), then the traced inputs negated, scaled and zeroed
    assert sum(output["histogram"]["counts"]) == output["elements"] == 2 * 4 + 3 * 4 + 3 * (2 * 4)
    assert "onnxruntime" in document["environment"]["packages"]
    assert "CPUExecutionProvider" in document["environment"]["onnxruntime_providers"]


def test_plots_are_svg_histograms(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(two_outputs(0.0), a)
    onnx.save(two_outputs(0.5), b)
    written = write_plots(validate(str(a), str(b)), tmp_path / "plots")
    assert sorted(p.name for p in written) == ["cpu_first.svg", "cpu_second.svg"]
    bars = ElementTree.parse(written[0]).getroot().findall("{http://www.w3.org/2000/svg}rect")
    assert any(bar.get("fill") == "#c8553d" and float(bar.get("height")) > 0 for bar in bars)


def test_samples_vary_dynamic_dims_and_bound_indices():
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["y"], axis=0)], "embed",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((7, 3), np.float32), "table")],
    )
    model = helper.make_model(graph, ir_version=10)
    assert index_bounds(model) == {"ids": 7}
    from converter.core.inputs import graph_input_specs

    first = {"ids": np.zeros((2, 2), np.int64)}
    samples = make_samples(graph_input_specs(model), model, 4, seed=1, first=first)
    assert [s.sizes for s in samples] == [{"batch": 2, "seq": 2}, {"batch": 3, "seq": 3}, {"batch": 1, "seq": 1},
                                          {"batch": 5, "seq": 5}]
    assert all(s.feeds["ids"].max() < 7 for s in samples)
    again = make_samples(graph_input_specs(model), model, 4, seed=1, first=first)
    assert all(np.array_equal(x.feeds["ids"], y.feeds["ids"]) for x, y in zip(samples, again, strict=True))


def test_device_all_skips_missing_cuda_and_cuda_alone_is_bad_input(tmp_path):
    onnx.save(two_outputs(), tmp_path / "m.onnx")
    if cuda_available():
        pytest.skip("this machine has CUDA; the CUDA test below runs instead")
    report = validate(str(tmp_path / "m.onnx"), device="all")
    assert report and [(d.device, d.status) for d in report.devices] == [("cpu", "passed"), ("cuda", "skipped")]
    with pytest.raises(GraphtoolError, match="no CUDAExecutionProvider"):
        validate(str(tmp_path / "m.onnx"), device="cuda")


@pytest.mark.skipif(not cuda_available(), reason="onnxruntime has no CUDAExecutionProvider")
def test_cuda_runs_with_tf32_off(originals):
    report = validate(str(originals["cnn"]), device="all", locate=True)
    assert report, report.to_dict()
    assert [d.status for d in report.devices] == ["passed", "passed"]
    assert any("TF32 disabled" in note for note in report.notes)
