"""Models over 2 GB, with the external-data path forced on small models: data files, memory maps, stage timings."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import TORCH_DIR
from onnx import TensorProto, helper, numpy_helper

from converter import api
from converter.core import external_data
from converter.core.types import LoadOptions


def _mlp(path=None) -> onnx.ModelProto:
    """x[batch, 16] -> Gemm -> Relu -> Gemm, seeded weights of 4 KiB and more (so they go external)."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(32, 16)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(size=(8, 32)).astype(np.float32), "w2")
    b = numpy_helper.from_array(np.arange(8, dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Gemm", ["r", "w2", "b"], ["y"], transB=1)],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])], [w1, w2, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.fixture
def forced(monkeypatch):
    """Every model counts as over the threshold, as a 2.4 GB one would."""
    monkeypatch.setenv(external_data.THRESHOLD_ENV, "0")


def _external_names(model: onnx.ModelProto) -> set[str]:
    return {t.name for t in model.graph.initializer if t.data_location == TensorProto.EXTERNAL}


def test_externalize_then_memory_map_round_trips(tmp_path):
    model = _mlp()
    expected = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    external_data.externalize(model, tmp_path)
    assert _external_names(model) == {"w1", "w2"}  # the 32-byte bias stays inline
    assert not any(t.HasField("raw_data") for t in model.graph.initializer if t.name != "b")
    with pytest.raises(ValueError, match="no weights folder"):
        external_data.tensor_array(model.graph.initializer[0])
    with external_data.weights_at(tmp_path):
        arrays = {t.name: external_data.tensor_array(t) for t in model.graph.initializer}
    assert isinstance(arrays["w1"].base, np.memmap)  # mapped, not read into a copy
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, expected[name])


def test_threshold_from_environment(monkeypatch):
    monkeypatch.delenv(external_data.THRESHOLD_ENV, raising=False)
    assert external_data.threshold() == 1 << 30
    monkeypatch.setenv(external_data.THRESHOLD_ENV, "123")
    assert external_data.threshold() == 123


def test_onnx_over_threshold_converts_to_onnx_with_data_beside_it(tmp_path, forced):
    source = tmp_path / "mlp.onnx"
    onnx.save_model(_mlp(), str(source))
    output = tmp_path / "out" / "mlp.onnx"
    output.parent.mkdir()
    result = api.convert(source, "onnx", output)
    assert result, result.to_dict()
    assert sorted(p.name for p in output.parent.iterdir()) == ["mlp.onnx", "mlp.onnx.data"]  # no staging left
    written = onnx.load_model(str(output), load_external_data=False)
    assert _external_names(written) == {"w1", "w2"}
    assert {e.value for t in written.graph.initializer for e in t.external_data if e.key == "location"} == {
        "mlp.onnx.data"}
    loaded = onnx.load_model(str(output))  # onnx itself resolves the data file beside it
    np.testing.assert_array_equal(numpy_helper.to_array(loaded.graph.initializer[0]),
                                  numpy_helper.to_array(_mlp().graph.initializer[0]))
    assert result.artifact["external_data"] == str(output) + ".data"


def test_external_onnx_file_is_memory_mapped_not_copied(tmp_path, forced):
    model = _mlp()
    onnx.save_model(model, str(tmp_path / "mlp.onnx"), save_as_external_data=True, location="weights.bin",
                    size_threshold=1024)
    loaded = api.load(tmp_path / "mlp.onnx")
    assert loaded.weights_dir == tmp_path  # read in place: nothing copied to a scratch folder
    assert _external_names(loaded.model) == {"w1", "w2"}
    assert loaded.model.ByteSize() < 4096  # the graph alone, no weights in the protobuf


@pytest.mark.slow
@pytest.mark.parametrize("target", ["savedmodel", "pt2"])
def test_external_weights_convert_and_validate(tmp_path, forced, target):
    source = tmp_path / "mlp.onnx"
    onnx.save_model(_mlp(), str(source))
    result = api.convert(source, target, tmp_path / f"mlp_{target}")
    assert result, result.to_dict()
    assert result.report.to_dict()["passed"] is True
    timings = result.to_dict()["timings"]
    assert list(timings)[:2] == ["load", "normalize"]
    assert {"build", "save", "validation"} <= set(timings)
    assert all(seconds >= 0 for seconds in timings.values())


@pytest.mark.slow
def test_torch_source_exports_weights_to_a_scratch_folder(tmp_path, forced):
    loaded = api.load(TORCH_DIR / "mlp.pt2")
    folder = loaded.weights_dir
    assert folder is not None and folder.is_dir()
    assert _external_names(loaded.model)  # the exporter wrote them straight to the data file
    with external_data.weights_at(folder):
        from converter.core.runners import ort_runner

        feeds = loaded.example_inputs
        got = ort_runner(loaded.model)(feeds)
    want = loaded.reference(feeds)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)
    del loaded
    import gc

    gc.collect()
    assert not folder.exists()  # the scratch folder goes with the model


def test_verbose_convert_prints_where_the_time_went(cli, tmp_path):
    source = tmp_path / "mlp.onnx"
    onnx.save_model(_mlp(), str(source))
    result = cli("--verbose", "convert", source, "--to", "onnx", "-o", tmp_path / "o.onnx")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("time:"))
    assert "load" in line and "normalize" in line and "save" in line and "validation" in line
    quiet = cli("convert", source, "--to", "onnx", "-o", tmp_path / "p.onnx")
    assert "time:" not in quiet.output


def test_load_options_unchanged_under_threshold(tmp_path):
    source = tmp_path / "mlp.onnx"
    onnx.save_model(_mlp(), str(source))
    loaded = api.load(source, LoadOptions())
    assert loaded.weights_dir is None and not _external_names(loaded.model)
    result = api.convert(source, "onnx", tmp_path / "o.onnx")
    assert result and not (tmp_path / "o.onnx.data").exists()
