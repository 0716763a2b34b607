"""Small models nobody here wrote, for the coverage matrix: transformers (random weights), PyTorch, Keras."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

_HIDDEN = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def _seeded():
    import torch

    torch.manual_seed(0)


def bert():
    from transformers import BertConfig, BertModel

    _seeded()
    return BertModel(BertConfig(vocab_size=100, max_position_embeddings=64, **_HIDDEN))


def distilbert():
    from transformers import DistilBertConfig, DistilBertModel

    _seeded()
    return DistilBertModel(DistilBertConfig(vocab_size=100, max_position_embeddings=64, dim=32, n_layers=2,
                                            n_heads=2, hidden_dim=64))


def gpt2(use_cache: bool = True):
    from transformers import GPT2Config, GPT2Model

    _seeded()
    return GPT2Model(GPT2Config(vocab_size=100, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                bos_token_id=0, eos_token_id=0, use_cache=use_cache))


def gpt2_no_cache():
    return gpt2(use_cache=False)


def _t5():
    from transformers import T5Config, T5Model

    _seeded()
    return T5Model(T5Config(vocab_size=100, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                            decoder_start_token_id=0))


def t5():
    return _t5()


def t5_encoder():
    return _t5().get_encoder()


def vit():
    from transformers import ViTConfig, ViTModel

    _seeded()
    return ViTModel(ViTConfig(image_size=16, patch_size=8, num_channels=3, **_HIDDEN))


def whisper_encoder():
    from transformers import WhisperConfig, WhisperModel

    _seeded()
    config = WhisperConfig(vocab_size=100, num_mel_bins=8, d_model=32, encoder_layers=2, decoder_layers=2,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                           decoder_ffn_dim=64, max_source_positions=8, max_target_positions=16,
                           pad_token_id=0, bos_token_id=0, eos_token_id=0, decoder_start_token_id=0)
    return WhisperModel(config).get_encoder()


def clip_text():
    from transformers import CLIPTextConfig, CLIPTextModel

    _seeded()
    return CLIPTextModel(CLIPTextConfig(vocab_size=100, max_position_embeddings=16, **_HIDDEN))


def clip_vision():
    from transformers import CLIPVisionConfig, CLIPVisionModel

    _seeded()
    return CLIPVisionModel(CLIPVisionConfig(image_size=16, patch_size=8, **_HIDDEN))


def clip():
    from transformers import CLIPConfig, CLIPModel

    _seeded()
    layers = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(text_config={**layers, "vocab_size": 99, "max_position_embeddings": 16,
                                     "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1},
                        vision_config={**layers, "image_size": 16, "patch_size": 8}, projection_dim=16)
    return CLIPModel(config).eval()


def mixtral():
    """Mixtral's logits, traced on all-ones ids, which route every token to the same two experts."""
    import torch
    from transformers import MixtralConfig, MixtralForCausalLM

    class Logits(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            return self.model(input_ids=input_ids, use_cache=False).logits

    _seeded()
    config = MixtralConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                           max_position_embeddings=64)
    return Logits(MixtralForCausalLM(config).eval()).eval(), (torch.ones(1, 8, dtype=torch.long),)


def transformer_with_mask():
    """nn.Transformer given its causal tgt_mask as a tensor: torch checks the mask's values to take a fast path."""
    import torch

    _seeded()
    model = torch.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16,
                                 batch_first=True, dropout=0.0).eval()
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4)
    return model, {"src": torch.randn(1, 5, 8), "tgt": torch.randn(1, 4, 8), "tgt_mask": mask}


def _torch_modules():
    """Plain PyTorch modules, defined on first use so that importing this file needs no torch."""
    import torch

    class Recurrent(torch.nn.Module):
        def __init__(self, cell: type) -> None:
            super().__init__()
            self.rnn = cell(4, 5, batch_first=True)

        def forward(self, tokens):
            return self.rnn(tokens)[0]

    class Branchy(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return x - 1

    class DictInOut(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image = torch.nn.Linear(6, 3)
            self.text = torch.nn.Embedding(10, 3)

        def forward(self, batch, scale: float = 1.0):
            image = self.image(batch["image"]) * scale
            text = self.text(batch["ids"]).mean(1)
            return {"logits": image + text, "parts": (image, text)}

    return Recurrent, Branchy, DictInOut


def resnet_like():
    """A small ResNet: stem, one residual block with batch norms, global average pooling and flatten as
    torchvision's ResNets have them (in ONNX a ReduceMean over constant axes and a Reshape to a constant shape),
    a linear head."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
            self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)

        def forward(self, x):
            return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))

    class ResNetLike(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.block = Block(8)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            pooled = nn.functional.adaptive_avg_pool2d(self.block(torch.relu(self.stem(x))), 1)
            return self.fc(torch.flatten(pooled, 1))

    _seeded()
    return ResNetLike().eval(), (torch.randn(1, 3, 16, 16),)


def lstm():
    _seeded()
    import torch

    return _torch_modules()[0](torch.nn.LSTM)


def gru():
    _seeded()
    import torch

    return _torch_modules()[0](torch.nn.GRU)


def branch():
    return _torch_modules()[1]()


def dict_io():
    import torch

    _seeded()
    batch = {"image": torch.randn(2, 6), "ids": torch.randint(0, 10, (2, 4))}
    return _torch_modules()[2](), ({**batch},)


def _keras():
    import keras

    keras.utils.set_random_seed(0)
    return keras


def mobilenet_v3():
    keras = _keras()
    return keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=4, alpha=0.75,
                                               minimalistic=True, include_preprocessing=False)


def two_in_two_out():
    keras = _keras()
    image = keras.Input((8,), name="image")
    meta = keras.Input((3,), name="meta")
    hidden = keras.layers.Dense(6, activation="relu", name="hidden")(keras.layers.Concatenate()([image, meta]))
    score = keras.layers.Dense(1, name="score")(hidden)
    predictions = keras.layers.Dense(4, activation="softmax", name="predictions")(hidden)
    return keras.Model([image, meta], [score, predictions])


def subclassed():
    keras = _keras()

    class Tower(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = keras.layers.Dense(6, activation="gelu")
            self.out = keras.layers.Dense(2)

        def call(self, features):
            return self.out(self.hidden(features))

    return Tower()


def keras_lstm():
    keras = _keras()
    tokens = keras.Input((None, 4), name="tokens")
    hidden = keras.layers.LSTM(5, return_sequences=True, name="lstm")(tokens)
    return keras.Model(tokens, keras.layers.Dense(2, name="head")(hidden))


def attention_block():
    keras = _keras()
    tokens = keras.Input((8, 16), name="tokens")
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")(tokens, tokens)
    normed = keras.layers.LayerNormalization(name="norm")(tokens + attended)
    return keras.Model(tokens, keras.layers.Dense(4, name="predictions")(normed))


def keras_hub_bert():
    from keras_models import bert  # a sibling file: the reference's folder is on sys.path

    return bert()


def keras_hub_gpt2():
    from keras_models import gpt2

    return gpt2()


# The coverage matrix: each model with its natural inputs only, the targets of its framework, and what it
# must do: pass, or (`refused`) exit 2 with one line that names the construct.
@dataclass(frozen=True)
class Case:
    """One row of the coverage matrix."""

    name: str
    framework: str  # torch | tf
    specs: tuple[str, ...] = ()
    file: str | None = None  # save the factory's model as this Keras file, or 'export' for model.export()
    refused: dict[str, str | tuple[str, ...]] = field(default_factory=dict)  # step -> text(s) the one-line error holds
    mismatched: dict[str, str] = field(default_factory=dict)  # target -> a problem its failed validation names
    # with random weights the reference cannot tell a right artifact from a wrong one: the verdict must say so
    # (the reason holds this), and the conversions are run with allow_inconclusive
    inconclusive: str | None = None
    code: str | None = None  # "tests-relative file:NAME": the factory is that module's source text NAME
    only: tuple[str, ...] = ()  # the targets to convert to, where not all of the framework's
    batch: str | None = None  # a dynamic batch dim that validation must try at two sizes or more
    ones: dict[str, tuple[int, ...]] = field(default_factory=dict)  # --inputs: int64 ones of these shapes

    @property
    def targets(self) -> tuple[str, ...]:
        if self.only:
            return self.only
        return ("onnx", "savedmodel", "torchscript") if self.framework == "torch" else ("onnx", "pt2", "tflite")


_IDS = ("input_ids:batch,seq:int64",)
_PAST = tuple(f"past.{layer}.{kind}:batch,2,past,8" for layer in range(2) for kind in ("key", "value"))
CASES = (
    Case("bert", "torch", _IDS),
    Case("distilbert", "torch", _IDS),
    Case("gpt2", "torch", _IDS),
    Case("gpt2_no_cache", "torch", _IDS),  # traced to TorchScript: its GatherND follows the input's sizes
    Case("t5_encoder", "torch", _IDS),
    Case("t5", "torch", ("input_ids:batch,seq:int64", "decoder_input_ids:batch,target:int64")),
    Case("vit", "torch", ("pixel_values:batch,3,16,16",)),
    Case("whisper_encoder", "torch", ("input_features:batch,8,16",)),
    Case("clip_text", "torch", _IDS),
    Case("clip_vision", "torch", ("pixel_values:batch,3,16,16",)),
    Case("lstm", "torch", ("tokens:batch,steps,4",)),
    Case("gru", "torch", ("tokens:batch,steps,4",)),
    Case("branch", "torch", ("x:batch,3",), refused={"load": "data-dependent branch at matrix_models.py"}),
    Case("dict_io", "torch"),
    Case("mobilenet_v3", "tf", inconclusive="output ignores its input"),  # softmax of ~0 logits: 1/4 each
    Case("two_in_two_out", "tf"),
    Case("subclassed", "tf", ("features:batch,5",), refused={"tflite": "cannot run: Erf (FlexErf)"}),
    Case("keras_lstm", "tf"),
    Case("attention_block", "tf"),
    Case("keras_hub_bert", "tf"),  # called with its dict of inputs; token ids below the vocabulary
    Case("keras_hub_gpt2", "tf"),
    Case("two_in_two_out", "tf", file="model.h5"),
    Case("keras_lstm", "tf", file="export"),
    # the families of issue 23, each converted to ONNX and one other target, validated at two batch sizes
    Case("llama_with_cache", "torch", ("input_ids:batch,1:int64", *_PAST), code="sources/test_torch_caches.py:MODELS",
         only=("onnx", "torchscript"), batch="batch"),
    # torch.export fixes a dynamic sequence in Mamba's conv: the batch alone is dynamic
    Case("mamba", "torch", ("input_ids:batch,6:int64",), code="sources/test_torch_caches.py:MODELS",
         only=("onnx", "savedmodel"), batch="batch"),
    # the exercises change the pixels, not the ids: they tell nothing of the text outputs, which the seeded draws
    # (other sizes) judge
    Case("clip", "torch", ("input_ids:batch,seq:int64", "pixel_values:batch,3,16,16"), only=("onnx", "torchscript"),
         batch="batch"),
    Case("efficientnet", "torch", ("pixel_values:batch,3,64,64",), code="targets/test_efficientnet_savedmodel.py:MODEL",
         only=("onnx", "savedmodel"), batch="batch"),
    # traced on all-ones ids: captured through transformers' batched experts, so right for every routing
    Case("mixtral", "torch", ones={"input_ids": (1, 8)}, only=("onnx", "savedmodel"), batch="batch"),
    # no line of the user's runs it: the refusal names torch's, with the hint
    Case("transformer_with_mask", "torch", refused={
        "load": ("data-dependent branch at torch/nn/modules/transformer.py:", "pass tgt_is_causal=True")}),
)


def case_id(case: Case) -> str:
    return f"{case.name}-{case.file}" if case.file else case.name


def source_of(case: Case, folder: Path) -> str:
    """What the CLI user points at: the factory, or the Keras file or SavedModel written from it."""
    if case.code is not None:  # a factory another test module keeps as source text: written out as a file
        module, name = case.code.rsplit(":", 1)
        path = folder / f"{Path(module).stem.removeprefix('test_')}_models.py"
        path.write_text(getattr(_test_module(Path(__file__).parent / module), name))
        return f"{path}:{case.name}"
    reference = f"{Path(__file__)}:{case.name}"
    if case.file is None:
        return reference
    model = globals()[case.name]()
    if case.file == "export":
        model.export(str(folder / "exported"), verbose=False)
        return str(folder / "exported")
    model.save(str(folder / case.file))
    return str(folder / case.file)


def _test_module(path: Path):
    """A test module loaded from its file, for the factory sources it keeps."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"matrix_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def variant(model):
    """A copy of `model` with one weight changed: what diff must find."""
    import copy

    from onnx import numpy_helper

    changed = copy.deepcopy(model)
    weight = max(changed.graph.initializer, key=lambda t: len(t.raw_data) or 0)
    array = numpy_helper.to_array(weight).copy()
    array.flat[0] += 0.5
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    return changed


def max_errors(result) -> float:
    """The largest max abs error over a conversion's outputs."""
    return max((o.max_abs for d in result.report.devices for o in d.outputs), default=0.0)
