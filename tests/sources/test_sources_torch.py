"""Every PyTorch source format of every fixture normalizes to ONNX that computes the same."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, TORCH_DIR
from sources_helpers import assert_agrees, resized

from converter import api
from converter.core.errors import GraphtoolError
from converter.core.scopes import node_scope, node_source
from converter.core.types import LoadOptions

NAMES = ["mlp", "cnn", "gru", "encoder", "two_heads"]
SPECS = {
    "mlp": ("x:batch,16",),
    "cnn": ("image:batch,3,16,16",),
    "gru": ("tokens:batch,7,8",),
    "encoder": ("x:batch,6,32",),
    "two_heads": ("features:batch,12", "meta:batch,4"),
}
CLASSES = {"mlp": "MLP", "cnn": "CNN", "gru": "GRUTagger", "encoder": "EncoderBlock", "two_heads": "TwoHeads"}
MODELS = str(FIXTURES / "torch_models.py")


def _source(name: str, form: str) -> tuple[str, LoadOptions]:
    specs = SPECS[name]
    return {
        "python": (f"{MODELS}:{name}", LoadOptions()),
        "pt2": (str(TORCH_DIR / f"{name}.pt2"), LoadOptions()),
        "torchscript": (str(TORCH_DIR / f"{name}.ts"), LoadOptions(input_specs=specs)),
        "pickle": (str(TORCH_DIR / f"{name}_module.pt"), LoadOptions(input_specs=specs, trust_pickle=True)),
        "state_dict": (str(TORCH_DIR / f"{name}_state_dict.pth"),
                       LoadOptions(input_specs=specs, model_class=f"{MODELS}:{CLASSES[name]}")),
    }[form]


@pytest.mark.slow
@pytest.mark.parametrize("form", ["python", "pt2", "torchscript", "pickle", "state_dict"])
@pytest.mark.parametrize("name", NAMES)
def test_every_format_agrees(name, form, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))  # the pickled modules name their class's module
    source, options = _source(name, form)
    loaded = api.load(source, options)
    assert loaded.source.framework == "torch"
    assert [i.name for i in loaded.model.graph.input][: len(loaded.example_inputs)] == list(loaded.example_inputs)
    assert_agrees(loaded)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["export", "torchscript", "fx"])
def test_each_capture_strategy(strategy):
    loaded = api.load(f"{MODELS}:cnn", LoadOptions(trace=strategy))
    assert loaded.source.strategy == strategy
    assert_agrees(loaded)


@pytest.mark.slow
def test_dynamic_batch_runs_at_other_sizes():
    loaded = api.load(f"{MODELS}:two_heads", LoadOptions(input_specs=SPECS["two_heads"]))
    dims = [d.dim_param for d in loaded.model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == "batch"
    for size in (1, 5):
        assert_agrees(loaded, resized(loaded.example_inputs, 0, size))


@pytest.mark.slow
def test_variable_length_sequence_through_torchscript():
    options = LoadOptions(input_specs=("tokens:batch,steps,8",), trace="torchscript")
    loaded = api.load(str(TORCH_DIR / "gru.ts"), options)
    for steps in (3, 11):
        assert_agrees(loaded, resized(loaded.example_inputs, 1, steps))


def _data_dependent():
    """A branch on a tensor's value: torch.export refuses it, tracing records the branch taken."""
    import torch

    class Branchy(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return x - 1

    return Branchy(), (torch.ones(2, 3),)


@pytest.mark.slow
def test_auto_refuses_a_trace_that_bakes_in_a_data_dependent_branch():
    # TorchScript tracing succeeds but keeps only the branch of the example: never a wrong model
    with pytest.raises(GraphtoolError) as caught:
        api.load(_data_dependent(), LoadOptions(trace="auto"))
    message = str(caught.value)
    assert "export: GuardOnDataDependentSymNode: data-dependent branch at test_sources_torch.py:" in message
    assert "torchscript: CaptureRefused: data-dependent branch" in message and "`if x.sum() > 0:`" in message
    assert type(caught.value.__cause__).__module__.startswith("torch.")  # export's own exception, for --debug


@pytest.mark.slow
def test_failed_strategy_names_itself_and_the_line_of_user_code():
    # no hint to trace instead: tracing would bake in one branch
    with pytest.raises(GraphtoolError, match=r"export capture failed: .*data-dependent branch at test_sources_torch"
                                             r".py:\d+ \(`if x.sum\(\) > 0:`\).*torch.cond") as caught:
        api.load(_data_dependent())
    assert "--trace torchscript" not in str(caught.value)
    assert type(caught.value.__cause__).__module__.startswith("torch.")


@pytest.mark.slow
def test_dynamic_sequence_through_export():
    loaded = api.load(f"{MODELS}:gru", LoadOptions(input_specs=("tokens:batch,steps,8",)))
    assert loaded.source.strategy == "export"
    for steps in (3, 11):
        assert_agrees(loaded, resized(loaded.example_inputs, 1, steps))


@pytest.mark.slow
def test_scopes_and_sources_recorded(monkeypatch):
    monkeypatch.chdir(FIXTURES.parent)  # sources are shown relative to the working directory
    loaded = api.load(f"{MODELS}:cnn")
    scopes = {n.op_type: node_scope(n) for n in loaded.model.graph.node}
    # the exporter folds each BatchNorm into its Conv, which keeps the BatchNorm's scope
    assert scopes["MaxPool"] == "pool" and scopes["Gemm"] == "head" and scopes["Conv"].startswith("block")
    sources = {n.op_type: node_source(n) for n in loaded.model.graph.node}
    block_line = FIXTURES.joinpath("torch_models.py").read_text().splitlines().index(
        "        return torch.relu(self.bn(self.conv(x)))") + 1
    assert sources["Relu"] == f"fixtures/torch_models.py:{block_line}"


@pytest.mark.slow
def test_npz_inputs_define_shapes(tmp_path):
    import numpy as np

    data = tmp_path / "data.npz"
    np.savez(data, x=np.random.default_rng(0).standard_normal((3, 16)).astype("float32"))
    loaded = api.load(str(TORCH_DIR / "mlp.ts"), LoadOptions(inputs_file=data))
    assert loaded.example_inputs["x"].shape == (3, 16)
    assert_agrees(loaded)


@pytest.mark.parametrize(
    ("path", "options", "message"),
    [
        ("mlp_module.pt", LoadOptions(input_specs=("x:1,16",)), "--trust-pickle"),
        ("mlp_state_dict.pth", LoadOptions(input_specs=("x:1,16",)), "--model-class"),
        ("mlp.ts", LoadOptions(), r"input shapes are unknown; pass --input"),
        ("mlp.ts", LoadOptions(input_specs=("y:1,16",)), "no input 'y'"),
        ("mlp.pt2", LoadOptions(input_specs=("x:1,16,3",)), "rank 3"),
        ("mlp.pt2", LoadOptions(input_specs=("x:1,17",)), "fixes it at 16"),
        ("mlp_state_dict.pth", LoadOptions(input_specs=("x:1,16",), model_class=f"{MODELS}:CNN"), "does not fit"),
    ],
)
def test_bad_torch_inputs(path, options, message):
    with pytest.raises(GraphtoolError, match=message):
        api.load(str(TORCH_DIR / path), options)


def test_pickle_refused_before_any_code_runs(tmp_path):
    import pickle

    marker = tmp_path / "ran"
    payload = tmp_path / "evil.pt"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(GraphtoolError, match="--trust-pickle"):
        api.load(str(payload), LoadOptions(input_specs=("x:1",)))
    assert not marker.exists()


DICT_MODEL = '''
import torch


class DictModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(8, 4)
        self.proj = torch.nn.Linear(3, 4)

    def forward(self, batch: dict, scale: float = 1.0):
        return self.proj(batch["image"]) + self.emb(batch["ids"]) * scale


def dict_model():
    torch.manual_seed(0)
    return DictModel()
'''


def _dict_model(tmp_path, **arrays):
    import numpy as np

    model = tmp_path / "dict_models.py"
    model.write_text(DICT_MODEL)
    rng = np.random.default_rng(0)
    given = {"batch.image": rng.standard_normal((2, 5, 3)).astype("float32"), "batch.ids": rng.integers(0, 8, (2, 5))}
    data = tmp_path / "data.npz"
    np.savez(data, **{name: array for name, array in {**given, **arrays}.items() if array is not None})
    return f"{model}:dict_model", data


@pytest.mark.slow
def test_npz_arrays_named_arg_key_feed_a_dict_argument(tmp_path):
    import numpy as np
    import onnxruntime as ort

    source, data = _dict_model(tmp_path, labels=np.zeros(2, "int64"))  # other data in the file: left out
    result = api.convert(source, "onnx", tmp_path / "dict.onnx", LoadOptions(inputs_file=data))
    assert result.report.verdict == "passed"
    session = ort.InferenceSession(str(result.output))
    assert [i.name for i in session.get_inputs()] == ["batch.image", "batch.ids"]
    with np.load(data) as arrays:
        feeds = {name: arrays[name] for name in ("batch.image", "batch.ids")}
        assert session.run(None, feeds)[0].shape == (2, 5, 4)


@pytest.mark.slow
def test_npz_data_for_dynamic_dict_entries_runs_at_another_batch(tmp_path):
    import numpy as np
    import onnxruntime as ort

    source, data = _dict_model(tmp_path)
    options = LoadOptions(input_specs=("batch.image:batch,5,3", "batch.ids:batch,5:int64"), inputs_file=data)
    result = api.convert(source, "onnx", tmp_path / "dict.onnx", options)
    assert result.report.verdict == "passed"
    session = ort.InferenceSession(str(result.output))
    feeds = {"batch.image": np.zeros((3, 5, 3), np.float32), "batch.ids": np.zeros((3, 5), np.int64)}
    assert session.run(None, feeds)[0].shape == (3, 5, 4)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"batch.ids": None}, r"^--inputs \S+: forward\(\) reads batch\['ids'\], but no batch.ids is given; a dict "
                              r"argument needs every key it reads \(given: batch.image\)$"),
        ({"batches.ids": 0}, r"^--inputs \S+: array batches.ids: forward\(\) has no argument 'batches'; it takes "
                             r"batch, scale"),
    ],
)
def test_npz_dict_entries_missing_or_unknown_are_one_line(tmp_path, arrays, message):
    source, data = _dict_model(tmp_path, **arrays)
    with pytest.raises(GraphtoolError, match=message) as raised:
        api.convert(source, "onnx", tmp_path / "dict.onnx", LoadOptions(inputs_file=data))
    assert "\n" not in str(raised.value)


@pytest.mark.slow
def test_cli_converts_a_dict_argument_from_npz(tmp_path, cli):
    source, data = _dict_model(tmp_path)
    result = cli("convert", source, "--inputs", data, "--to", "onnx", "-o", tmp_path / "dict.onnx")
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output
    missing = _dict_model(tmp_path, **{"batch.ids": None})[1]
    refused = cli("convert", source, "--inputs", missing, "--to", "onnx", "-o", tmp_path / "other.onnx")
    assert refused.exit_code == 2 and "no batch.ids is given" in refused.stderr


@pytest.mark.slow
def test_clip_text_and_vision_outputs_keep_their_paths(tmp_path):
    import numpy as np
    import onnx
    import torch
    from transformers import CLIPConfig, CLIPModel


    torch.manual_seed(0)
    layers = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(text_config={**layers, "vocab_size": 99, "max_position_embeddings": 16,
                                     "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1},
                        vision_config={**layers, "image_size": 32, "patch_size": 8}, projection_dim=16)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "inputs.npz", input_ids=rng.integers(3, 99, (2, 7)),
             pixel_values=rng.normal(size=(2, 3, 32, 32)).astype(np.float32))
    result = api.convert(CLIPModel(config).eval(), "onnx", tmp_path / "clip.onnx",
                         LoadOptions(inputs_file=tmp_path / "inputs.npz"))
    assert result, result.report.to_dict()
    names = [o.name for o in onnx.load(str(tmp_path / "clip.onnx")).graph.output]
    assert names == ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds",
                     "text_model_output.last_hidden_state", "text_model_output.pooler_output",
                     "vision_model_output.last_hidden_state", "vision_model_output.pooler_output"]
    assert [o.name for o in result.report.devices[0].outputs] == names
