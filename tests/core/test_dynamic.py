"""Which dims --inputs data leaves dynamic, and data resized to other sizes of them."""

from __future__ import annotations

import numpy as np

from converter.core.dynamic import fixed_dims, free_dims, resized, traceable
from converter.core.inputs import InputSpec


def test_batch_and_a_token_inputs_sequence_are_freed_and_shared():
    specs = [InputSpec("ids", (1, 7), "int64"), InputSpec("mask", (1, 7), "int64"), InputSpec("x", (1, 4))]
    freed, what = free_dims(specs)
    assert [s.dims for s in freed] == [("batch", "sequence"), ("batch", "sequence"), ("batch", 4)]
    assert what[0] == "input ids dim 0 (batch)" and len(what) == 5


def test_inputs_of_different_batch_sizes_get_names_of_their_own_and_kept_ones_stay():
    specs = [InputSpec("a", (1, 3)), InputSpec("b", (2, 3)), InputSpec("c", (5,))]
    freed, _ = free_dims(specs, keep={"c"})
    assert [s.dims for s in freed] == [("a_batch", 3), ("b_batch", 3), (5,)]


def test_fixed_dims_take_the_datas_shape():
    specs = [InputSpec("x", ("batch", 3))]
    assert fixed_dims(specs, {"x": np.zeros((4, 3))})[0].dims == (4, 3)


def test_resized_slices_and_tiles_the_data_itself():
    array = np.arange(6).reshape(2, 3)
    assert resized(array, {0: 1}).tolist() == [[0, 1, 2]]
    assert resized(array, {0: 5, 1: 2}).tolist() == [[0, 1], [3, 4], [0, 1], [3, 4], [0, 1]]


def test_a_dynamic_dim_at_one_is_traced_tiled_to_two():
    array = np.arange(3.0).reshape(1, 3)
    assert traceable(array, InputSpec("x", ("batch", 3))).shape == (2, 3)
    assert traceable(array, InputSpec("x", (1, 3))).shape == (1, 3)
