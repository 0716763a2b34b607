"""TensorFlow -> ONNX (tf2onnx) -> PyTorch on the Keras and tf.cond fixtures: numerics, pt2 and TorchScript."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
torch = pytest.importorskip("torch")

from conftest import TF_DIR  # noqa: E402

from converter.api import load  # noqa: E402
from converter.targets.pt2 import write_pt2  # noqa: E402
from converter.targets.torch import to_graph_module  # noqa: E402
from converter.targets.torchscript import write_torchscript  # noqa: E402

pytestmark = pytest.mark.slow
RTOL, ATOL = 1e-4, 1e-5


def _onnxruntime(model, *arrays: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: a for i, a in zip(session.get_inputs(), arrays, strict=True)})


def _outputs(result) -> list[np.ndarray]:
    result = tuple(result.values()) if isinstance(result, dict) else result  # pt2 / TorchScript: by output name
    result = result if isinstance(result, tuple) else (result,)
    return [r.detach().numpy() for r in result]


@pytest.mark.parametrize(
    ("fixture", "shapes"),
    [("keras_cnn.keras", [(3, 16, 16, 3)]), ("keras_lstm.keras", [(2, 16, 8)]),
     ("keras_two_io.keras", [(5, 12), (5, 4)])],
)
def test_keras_fixture_converts_and_keeps_its_nhwc_interface(fixture: str, shapes, tmp_path) -> None:
    model = load(TF_DIR / fixture).model
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    module = to_graph_module(model)
    got = _outputs(module(*[torch.from_numpy(a) for a in arrays]))
    for actual, want in zip(got, _onnxruntime(model, *arrays), strict=True):
        np.testing.assert_allclose(actual, want, rtol=RTOL, atol=ATOL)
    result = write_pt2(model, tmp_path / "m.pt2")
    assert all(0 in dims for dims in result.dynamic_dims.values()) and result.dynamic_dims
    program = torch.export.load(tmp_path / "m.pt2").module()
    for actual, want in zip(_outputs(program(*[torch.from_numpy(a) for a in arrays])), got, strict=True):
        np.testing.assert_allclose(actual, want, rtol=RTOL, atol=ATOL)
    write_torchscript(model, tmp_path / "m.ts")
    scripted = torch.jit.load(tmp_path / "m.ts")
    for actual, want in zip(_outputs(scripted(*[torch.from_numpy(a) for a in arrays])), got, strict=True):
        np.testing.assert_allclose(actual, want, rtol=RTOL, atol=ATOL)


def test_tf_cond_becomes_torch_cond_in_pt2_and_is_flagged_when_traced(tmp_path) -> None:
    model = load(TF_DIR / "cond_savedmodel").model
    result = write_pt2(model, tmp_path / "cond.pt2")
    assert result.dynamic_dims == {"x": [0]}
    program = torch.export.load(tmp_path / "cond.pt2").module()
    rng = np.random.default_rng(1)
    for sign, batch in ((1.0, 2), (-1.0, 5)):
        x = (sign * np.abs(rng.standard_normal((batch, 6)))).astype(np.float32)
        want = _onnxruntime(model, x)[0]
        np.testing.assert_allclose(_outputs(program(torch.from_numpy(x)))[0], want, rtol=RTOL, atol=ATOL)
    traced = write_torchscript(model, tmp_path / "cond.ts")
    assert traced.strategy == "script" or traced.fixed_control_flow


def test_keras_output_names_survive_pt2_and_torchscript(tmp_path) -> None:
    """Keras' `score` and `predictions` come back by name, in the model's order, from both loaded artifacts."""
    from matrix_models import __file__ as matrix_file

    from converter.targets.runners import pt2_runner, torchscript_runner

    model = load(f"{matrix_file}:two_in_two_out").model
    names = [o.name for o in model.graph.output]
    assert names == ["score", "predictions"]  # not alphabetical: the order is the model's
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((3, 8)).astype(np.float32), rng.standard_normal((3, 3)).astype(np.float32)]
    want = _onnxruntime(model, *arrays)
    write_pt2(model, tmp_path / "m.pt2")
    write_torchscript(model, tmp_path / "m.ts")
    for loaded in (torch.export.load(tmp_path / "m.pt2").module(), torch.jit.load(tmp_path / "m.ts")):
        with torch.no_grad():
            result = loaded(*[torch.from_numpy(a) for a in arrays])
        assert list(result) == names
        for name, expected in zip(names, want, strict=True):
            np.testing.assert_allclose(result[name].numpy(), expected, rtol=RTOL, atol=ATOL)
    feeds = {"image": arrays[0], "meta": arrays[1]}
    for runner in (pt2_runner(tmp_path / "m.pt2", list(feeds)), torchscript_runner(tmp_path / "m.ts", list(feeds))):
        for got, expected in zip(runner(feeds), want, strict=True):  # runners: graph-output order
            np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
