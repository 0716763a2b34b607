"""ONNX RNN, GRU and LSTM on torch's fused ops (converter/targets/torch/native_rnn.py) against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")

from converter.targets.torch import to_graph_module  # noqa: E402
from converter.targets.torch.runtime import native_rnn  # noqa: E402
from converter.targets.torch.runtime import rnn as recurrent  # noqa: E402

pytestmark = pytest.mark.slow
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
BATCH, FEATURES, HIDDEN = 2, 3, 4
RTOL, ATOL = 1e-4, 1e-5


def _model(op: str, direction="forward", layout=0, bias=True, states=False, weights_as_inputs=False,
           lens=None, p=False, **attrs) -> onnx.ModelProto:
    """One `op` node; X (and the initial states) are inputs with a symbolic sequence dim."""
    rng = np.random.default_rng(0)
    dirs, gates = 2 if direction == "bidirectional" else 1, GATES[op]
    tensors = {
        "W": rng.standard_normal((dirs, gates * HIDDEN, FEATURES)),
        "R": rng.standard_normal((dirs, gates * HIDDEN, HIDDEN)),
        "B": rng.standard_normal((dirs, 2 * gates * HIDDEN)) if bias else None,
        "sequence_lens": None if lens is None else np.array(lens, np.int32),
        "initial_h": "state", "initial_c": "state" if op == "LSTM" else None,
        "P": rng.standard_normal((dirs, 3 * HIDDEN)) if p else None,
    }
    if op != "LSTM":
        del tensors["initial_c"], tensors["P"]
    if not states:
        tensors.update({k: None for k in ("initial_h", "initial_c") if k in tensors})
    names = ["X"] + [k if v is not None else "" for k, v in tensors.items()]
    x_dims = ["seq", BATCH, FEATURES] if layout == 0 else [BATCH, "seq", FEATURES]
    state = [dirs, BATCH, HIDDEN] if layout == 0 else [BATCH, dirs, HIDDEN]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_dims)]
    inits = []
    for name, value in tensors.items():
        if isinstance(value, str):
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, state))
        elif value is not None and weights_as_inputs and name in "WRB":
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
        elif value is not None:
            inits.append(numpy_helper.from_array(value if name == "sequence_lens" else value.astype(np.float32), name))
    outs = ["Y", "Y_h", "Y_c"][: 3 if op == "LSTM" else 2]
    node = helper.make_node(op, names, outs, hidden_size=HIDDEN, direction=direction, layout=layout, **attrs)
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                                    for o in outs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)


def _feeds(model: onnx.ModelProto, steps: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(steps)
    feeds = {}
    for info in model.graph.input:
        dims = [steps if d.dim_param else d.dim_value for d in info.type.tensor_type.shape.dim]
        feeds[info.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def _onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The model's outputs from onnxruntime, which runs only layout 0: a batch-first model runs as its twin."""
    node = model.graph.node[0]
    if not any(a.name == "layout" and a.i == 1 for a in node.attribute):
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, feeds)
    twin = onnx.ModelProto()
    twin.CopyFrom(model)
    next(a for a in twin.graph.node[0].attribute if a.name == "layout").i = 0
    for info in twin.graph.input:  # X and the initial states, batch first
        dims = info.type.tensor_type.shape.dim
        first, second = onnx.TensorShapeProto.Dimension(), onnx.TensorShapeProto.Dimension()
        first.CopyFrom(dims[0])
        second.CopyFrom(dims[1])
        dims[0].CopyFrom(second)
        dims[1].CopyFrom(first)
    outputs = _onnxruntime(twin, {k: v.swapaxes(0, 1) for k, v in feeds.items()})
    return [outputs[0].transpose(2, 0, 1, 3)] + [o.swapaxes(0, 1) for o in outputs[1:]]


def _check(model: onnx.ModelProto, module, steps: int = 5) -> None:
    feeds = _feeds(model, steps)
    want = _onnxruntime(model, feeds)
    with torch.no_grad():
        got = module(*[torch.from_numpy(feeds[i.name]) for i in model.graph.input])
    assert len(got) == len(want)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=RTOL, atol=ATOL)


def _targets(module) -> set:
    return {n.target for n in module.graph.nodes if n.op == "call_function"}


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize(("bias", "states"), [(True, True), (False, False)])
def test_native_matches_onnxruntime(op, direction, layout, bias, states):
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    model = _model(op, direction, layout, bias, states, **attrs)
    module = to_graph_module(model)
    assert native_rnn.recurrent in _targets(module)
    _check(model, module)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_computed_weights_are_packed_in_the_graph(op):
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    model = _model(op, "bidirectional", states=True, weights_as_inputs=True, **attrs)
    module = to_graph_module(model)
    assert {native_rnn.pack_params, native_rnn.recurrent} <= _targets(module)
    _check(model, module)


def test_initializers_become_named_parameters():
    module = to_graph_module(_model("LSTM", "bidirectional"))
    names = {name for name, _ in module.named_parameters()}
    assert {"w", "r", "b_ih", "b_hh", "w_reverse", "r_reverse", "b_ih_reverse", "b_hh_reverse"} <= names


@pytest.mark.parametrize(("op", "activations"), [("RNN", ["Relu"]), ("RNN", ["Relu", "Relu"])])
def test_relu_rnn_is_native(op, activations):
    direction = "forward" if len(activations) == 1 else "bidirectional"
    model = _model(op, direction, activations=activations)
    module = to_graph_module(model)
    assert native_rnn.recurrent in _targets(module)
    _check(model, module)


def test_full_constant_sequence_lens_is_native():
    model = _model("GRU", lens=[5, 5], linear_before_reset=1)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 5
    module = to_graph_module(model)
    assert native_rnn.recurrent in _targets(module)
    _check(model, module)


@pytest.mark.parametrize(("op", "kwargs"), [
    ("LSTM", {"p": True}),
    ("LSTM", {"clip": 0.5}),
    ("LSTM", {"input_forget": 1}),
    ("GRU", {"linear_before_reset": 0}),
    ("GRU", {}),
    ("RNN", {"activations": ["Sigmoid", "Sigmoid"]}),
    ("RNN", {"activations": ["Tanh", "Relu"]}),
    ("LSTM", {"activations": ["HardSigmoid", "Tanh", "Tanh"] * 2, "activation_alpha": [0.3] * 2,
              "activation_beta": [0.4] * 2}),
    ("RNN", {"lens": [5, 3]}),
])
def test_fallback_to_the_step_loop(op, kwargs):
    model = _model(op, "bidirectional", **kwargs)
    module = to_graph_module(model)
    targets = _targets(module)
    assert native_rnn.recurrent not in targets
    assert {recurrent.rnn, recurrent.gru, recurrent.lstm} & targets
    _check(model, module)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_export_keeps_the_sequence_dynamic(op, direction):
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    model = _model(op, direction, layout=1, states=True, **attrs)
    module = to_graph_module(model).eval()
    example = [torch.from_numpy(v) for v in _feeds(model, 3).values()]
    seq = torch.export.Dim("seq", min=1)
    program = torch.export.export(module, tuple(example), dynamic_shapes=({1: seq},) + (None,) * (len(example) - 1),
                                 strict=False)
    _check(model, program.module(), steps=7)


def test_script_and_trace_keep_the_sequence_dynamic():
    model = _model("LSTM", "bidirectional", states=True)
    module = to_graph_module(model).eval()
    example = tuple(torch.from_numpy(v) for v in _feeds(model, 3).values())
    _check(model, torch.jit.script(module), steps=7)
    _check(model, torch.jit.trace(module, example, check_trace=False), steps=7)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("op", ["GRU", "LSTM"])
def test_native_runs_on_cuda(op, monkeypatch):
    from converter.backends.torch import prepare

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # cuDNN's RNNs use TF32 by default
    model = _model(op, "bidirectional", 0, True, True, **({"linear_before_reset": 1} if op == "GRU" else {}))
    feeds = _feeds(model, 9)
    got = prepare(model, device="CUDA").run([feeds[i.name] for i in model.graph.input])
    for g, w in zip(got, _onnxruntime(model, feeds), strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
