"""Input specs, npz matching and example data."""

from __future__ import annotations

import numpy as np
import pytest

from converter.core.errors import GraphtoolError
from converter.core.inputs import InputSpec, example_arrays, load_npz, match_arrays, merge_specs, parse_spec


def test_parse_spec():
    assert parse_spec("x:batch,3,224,224") == InputSpec("x", ("batch", 3, 224, 224), "float32")
    assert parse_spec("ids:1,16:int64") == InputSpec("ids", (1, 16), "int64")
    assert parse_spec("s::float16") == InputSpec("s", (), "float16")


@pytest.mark.parametrize("text", ["x", "x:1,2:complex7", ":1,2", "x:1,-2", "a:b:c:d"])
def test_parse_spec_rejects(text):
    with pytest.raises(GraphtoolError, match="--input"):
        parse_spec(text)


def test_symbolic_dims_trace_at_two():
    spec = parse_spec("x:batch,3")
    assert spec.example_shape() == (2, 3)
    assert spec.symbolic_dims() == {0: "batch"}


def test_merge_specs_applies_user_dims():
    declared = [InputSpec("x", ("batch", 8)), InputSpec("y", (4,))]
    merged = merge_specs(declared, [parse_spec("x:5,8")])
    assert merged == [InputSpec("x", (5, 8)), InputSpec("y", (4,))]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("z:1,8", "no input 'z'"), ("x:1,8,1", "rank 3"), ("x:1,9", "dim 1 is 9")],
)
def test_merge_specs_rejects_misfits(spec, message):
    with pytest.raises(GraphtoolError, match=message):
        merge_specs([InputSpec("x", ("batch", 8))], [parse_spec(spec)])


def test_npz_matched_by_name_then_position(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, a=np.zeros(2), b=np.ones(3))
    arrays = load_npz(path)
    by_name, note = match_arrays(arrays, ["b", "a"], "data")
    assert note is None and by_name["b"].shape == (3,)
    by_position, note = match_arrays(arrays, ["x", "y"], "data")
    assert "by position" in note and by_position["x"].shape == (2,)


def test_npz_missing_input(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, a=np.zeros(2))
    with pytest.raises(GraphtoolError, match="no array for input"):
        match_arrays(load_npz(path), ["a", "b"], "data")
    with pytest.raises(GraphtoolError, match="match none"):
        match_arrays(load_npz(path), ["x", "y"], "data")


def test_npz_refuses_pickles(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(GraphtoolError, match="not a readable"):
        load_npz(path)


def test_example_arrays_are_seeded_and_typed():
    specs = [InputSpec("f", ("b", 3)), InputSpec("i", (4,), "int64"), InputSpec("m", (2,), "bool")]
    first, second = example_arrays(specs, seed=3), example_arrays(specs, seed=3)
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert first["f"].shape == (2, 3) and first["f"].dtype == np.float32
    assert first["i"].dtype == np.int64 and first["i"].min() >= 0
    assert first["m"].dtype == np.bool_
