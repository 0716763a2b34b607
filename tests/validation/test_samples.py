"""Validation samples: traced, resized, then exercises that take other paths (signs, scales, zeros)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from converter.core.inputs import InputSpec
from converter.validation.samples import make_samples


def _model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    return helper.make_model(graph)


def test_exercises_negate_scale_and_zero_the_traced_floats_only():
    specs = [InputSpec("x", ("batch", 3)), InputSpec("ids", ("batch", 3), "int64")]
    first = {"x": np.arange(6, dtype=np.float32).reshape(2, 3) - 2, "ids": np.ones((2, 3), np.int64)}
    samples = make_samples(specs, _model(), 3, 0, first)
    assert [s.kind for s in samples] == ["traced", "seeded", "seeded", "negated", "scaled", "zeros"]
    by_kind = {s.kind: s.feeds for s in samples}
    np.testing.assert_array_equal(by_kind["negated"]["x"], -first["x"])
    np.testing.assert_array_equal(by_kind["scaled"]["x"], 8 * first["x"])
    assert not by_kind["zeros"]["x"].any() and by_kind["zeros"]["x"].dtype == np.float32
    for kind in ("negated", "scaled", "zeros"):
        np.testing.assert_array_equal(by_kind[kind]["ids"], first["ids"])  # indices stay valid


def test_no_exercises_without_floats_or_for_a_single_sample():
    specs = [InputSpec("ids", ("batch", 3), "int64")]
    first = {"ids": np.ones((2, 3), np.int64)}
    assert [s.kind for s in make_samples(specs, _model(), 3, 0, first)] == ["traced", "seeded", "seeded"]
    floats = [InputSpec("x", ("batch", 3))]
    assert len(make_samples(floats, _model(), 1, 0, {"x": np.ones((2, 3), np.float32)})) == 1
