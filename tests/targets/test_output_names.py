"""Outputs keep the source's names in every target: an output named like an input, one named like an op, and
nested outputs whose key repeats. ONNX alone suffixes where a name is taken, and records the source name."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from converter import api
from converter.core.output_names import OUTPUT_NAMES_KEY, recorded_output_names
from converter.core.types import LoadOptions

TARGETS = {"onnx": "m.onnx", "savedmodel": "m_savedmodel", "pt2": "m.pt2", "torchscript": "m.ts"}


def _echo():
    """forward(sample) -> {"sample": ...}: diffusers' UNet names its output like its input."""
    import torch

    class Echo(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 4)

        def forward(self, sample):
            return {"sample": self.linear(sample)}

    return Echo().eval(), ("sample:batch,4",), {"sample": np.random.default_rng(0).normal(size=(3, 4))}


def _embed():
    """{"embedding": ...}: torch.export names the embedding lookup's value `embedding` too."""
    import torch

    class Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = torch.nn.Embedding(10, 4)

        def forward(self, ids):
            looked_up = self.table(ids)
            return {"embedding": looked_up * 2.0, "mean": looked_up.mean(1)}

    return Embed().eval(), ("ids:batch,5:int64",), {"ids": np.arange(15).reshape(3, 5) % 10}


def _nested():
    """Two `last_hidden_state`s under `text` and `vision`, as CLIP's ModelOutput nests them."""
    import torch

    class Nested(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.text, self.vision = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)

        def forward(self, x):
            return {"text": {"last_hidden_state": self.text(x), "pooled": x.sum(1)},
                    "vision": {"last_hidden_state": self.vision(x)}}

    return Nested().eval(), ("x:batch,3,4",), {"x": np.random.default_rng(0).normal(size=(2, 3, 4))}


CASES = {  # factory, the source's output names, the ONNX graph's output names
    "echo": (_echo, ["sample"], ["sample_1"]),
    "embed": (_embed, ["embedding", "mean"], ["embedding", "mean"]),
    "nested": (_nested, ["text.last_hidden_state", "pooled", "vision.last_hidden_state"],
               ["text.last_hidden_state", "pooled", "vision.last_hidden_state"]),
}


def _artifact_names(target: str, path, feeds: dict[str, np.ndarray]) -> list[str]:
    """The output names the artifact itself answers with, run the way its framework runs it."""
    if target == "onnx":
        return [o.name for o in onnx.load(str(path)).graph.output]
    if target == "savedmodel":
        import tensorflow as tf

        return sorted(tf.saved_model.load(str(path)).signatures["serving_default"].structured_outputs)
    import torch

    module = torch.export.load(str(path)).module() if target == "pt2" else torch.jit.load(str(path))
    tensors = [torch.from_numpy(np.ascontiguousarray(a.astype(np.float32 if a.dtype.kind == "f" else np.int64)))
               for a in feeds.values()]
    return list(module(*tensors))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_every_target_names_outputs_after_the_source(tmp_path, case):
    import torch

    factory, source_names, onnx_names = CASES[case]
    torch.manual_seed(0)
    module, specs, feeds = factory()
    for target, name in TARGETS.items():
        result = api.convert(module, target, tmp_path / name, LoadOptions(input_specs=specs))
        assert result, (target, result.report.to_dict())
        assert [o.name for o in result.report.devices[0].outputs] == source_names
        assert not result.report.signature_problems
        found = _artifact_names(target, tmp_path / name, feeds)
        if target == "onnx":
            assert found == onnx_names
            model = onnx.load(str(tmp_path / name))
            renamed = {o: s for o, s in zip(onnx_names, source_names, strict=True) if o != s}
            assert recorded_output_names(model) == renamed
            assert any(p.key == OUTPUT_NAMES_KEY for p in model.metadata_props) == bool(renamed)
        else:
            assert found == (sorted(source_names) if target == "savedmodel" else source_names)


@pytest.mark.slow
def test_a_recorded_name_is_restored_from_an_onnx_file_and_a_savedmodel(tmp_path):
    """A SavedModel whose input and output are both `sample`, through ONNX (suffixed there) to pt2 and served."""
    import torch

    from converter.deploy.served import load_served

    torch.manual_seed(0)
    module, specs, feeds = _echo()
    saved = tmp_path / "echo_savedmodel"
    assert api.convert(module, "savedmodel", saved, LoadOptions(input_specs=specs))
    result = api.convert(str(saved), "onnx", tmp_path / "echo.onnx")
    assert result, result.report.to_dict()
    model = onnx.load(str(tmp_path / "echo.onnx"))
    assert [o.name for o in model.graph.output] == ["sample_1"]
    assert recorded_output_names(model) == {"sample_1": "sample"}
    again = api.convert(str(tmp_path / "echo.onnx"), "pt2", tmp_path / "echo.pt2")
    assert again, again.report.to_dict()
    assert _artifact_names("pt2", tmp_path / "echo.pt2", feeds) == ["sample"]
    served = load_served(tmp_path / "echo.onnx", "echo")
    assert [s.name for s in served.interface.inputs] == [s.name for s in served.interface.outputs] == ["sample"]
    answer = served.predict({"sample": feeds["sample"].astype(np.float32)})
    assert list(answer) == ["sample"] and answer["sample"].shape == (3, 4)


@pytest.mark.slow
def test_packaged_servers_serve_the_source_name(tmp_path):
    """TF Serving's signature and graphtool's interface say `sample`; Triton's ONNX config names the graph's own."""
    pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="the serve extra")
    import torch

    from converter.deploy.triton import read_config

    torch.manual_seed(0)
    module, specs, _ = _echo()
    options = LoadOptions(input_specs=specs)
    for server, fmt in (("tf-serving", None), ("triton", "onnx")):
        result = api.package(module, server, tmp_path / server, options, name="echo", format=fmt)
        assert result, result.to_dict()
        interface = result.to_dict()["interface"]
        assert [s["name"] for s in interface["inputs"]] == [s["name"] for s in interface["outputs"]] == ["sample"]
    config = read_config(tmp_path / "triton" / "echo" / "config.pbtxt")
    assert [t.name for t in config.input] == ["sample"] and [t.name for t in config.output] == ["sample_1"]
