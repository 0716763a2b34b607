"""Model inputs: `--input NAME:DIMS[:DTYPE]` specs, npz data, and seeded example arrays."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from converter.core.errors import GraphtoolError
from converter.core.onnx_utils import dim_label, dtype_name, graph_inputs
from converter.core.types import LoadOptions

__all__ = [
    "InputSpec", "parse_spec", "merge_specs", "load_npz", "match_arrays", "example_arrays",
    "given_specs", "example_inputs", "graph_input_specs",
    "random_array", "padding_mask", "DEFAULT_INT_HIGH",
    "DTYPES", "SYMBOLIC_EXAMPLE_SIZE",
]

DTYPES = ("float32", "float16", "float64", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")

# Symbolic dims are traced at this size: 1 would let exporters specialize a dim to a constant.
SYMBOLIC_EXAMPLE_SIZE = 2
DEFAULT_INT_HIGH = 8  # integer inputs are often indices; small values stay in range of most tables


@dataclass(frozen=True)
class InputSpec:
    """One model input: name, dims (int or symbolic name; None when unknown) and dtype."""

    name: str
    dims: tuple[int | str | None, ...]
    dtype: str = "float32"

    def example_shape(self) -> tuple[int, ...]:
        """A concrete shape for tracing: symbolic or unknown dims take SYMBOLIC_EXAMPLE_SIZE."""
        return tuple(d if isinstance(d, int) else SYMBOLIC_EXAMPLE_SIZE for d in self.dims)

    def symbolic_dims(self) -> dict[int, str]:
        """Axis -> symbolic name for the dims that stay dynamic."""
        return {axis: (d if isinstance(d, str) else f"{self.name}_dim{axis}")
                for axis, d in enumerate(self.dims) if not isinstance(d, int)}

    def __str__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.dims)
        return f"{self.name}:{dims}:{self.dtype}"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.dims), "dtype": self.dtype}


def parse_spec(text: str) -> InputSpec:
    """Parse NAME:DIMS[:DTYPE], e.g. 'x:batch,3,224,224' or 'ids:1,16:int64'; 'x::float32' is a scalar."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise GraphtoolError(f"--input {text}: expected NAME:DIMS[:DTYPE], e.g. x:batch,3,224,224:float32")
    name, dims_text = parts[0], parts[1]
    dtype = parts[2] if len(parts) == 3 and parts[2] else "float32"
    if dtype not in DTYPES:
        raise GraphtoolError(f"--input {text}: unknown dtype '{dtype}'; expected one of {', '.join(DTYPES)}")
    dims: list[int | str] = []
    for item in filter(None, (d.strip() for d in dims_text.split(","))):
        if item.isdigit():
            dims.append(int(item))
        elif item.isidentifier():
            dims.append(item)
        else:
            raise GraphtoolError(f"--input {text}: dim '{item}' is neither a size nor a symbolic name")
    return InputSpec(name, tuple(dims), dtype)


def merge_specs(declared: Sequence[InputSpec], given: Iterable[InputSpec]) -> list[InputSpec]:
    """Apply user specs over what the model declares; a spec that does not fit the model is an error."""
    given = list(given)
    if not declared:
        return given
    by_name = {spec.name: spec for spec in declared}
    merged = dict(by_name)
    for spec in given:
        if spec.name not in by_name:
            raise GraphtoolError(
                f"--input {spec.name}: the model has no input '{spec.name}'; its inputs are "
                f"{', '.join(by_name)}"
            )
        model_spec = by_name[spec.name]
        if model_spec.dims and len(model_spec.dims) != len(spec.dims):
            raise GraphtoolError(
                f"--input {spec}: rank {len(spec.dims)}, but the model's '{spec.name}' has rank "
                f"{len(model_spec.dims)} ({model_spec})"
            )
        for axis, (want, got) in enumerate(zip(model_spec.dims, spec.dims, strict=False)):
            if isinstance(want, int) and isinstance(got, int) and want != got:
                raise GraphtoolError(
                    f"--input {spec}: dim {axis} is {got}, but the model fixes it at {want} ({model_spec})"
                )
        merged[spec.name] = spec if spec.dims or not model_spec.dims else replace(spec, dims=model_spec.dims)
    return [merged[name] for name in by_name]


def given_specs(options: LoadOptions) -> list[InputSpec]:
    """The --input specs of the options, parsed."""
    return [parse_spec(text) for text in options.input_specs]


def example_inputs(specs: Sequence[InputSpec], options: LoadOptions,
                   bounds: dict[str, int] | None = None) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Input data and notes about how it was matched: from --inputs, or seeded from the specs (integer inputs
    below their `bounds`)."""
    if options.inputs_file is None:
        return example_arrays(specs, bounds=bounds), ()
    origin = f"--inputs {options.inputs_file}"
    arrays, note = match_arrays(load_npz(options.inputs_file), [s.name for s in specs], origin)
    return arrays, (note,) if note else ()


def load_npz(path: Path, flag: str = "--inputs") -> dict[str, np.ndarray]:
    """Read an .npz of input arrays (no pickled objects); `flag` names the option in errors."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError as error:
        raise GraphtoolError(f"{flag} {path}: no such file") from error
    except (OSError, ValueError) as error:
        raise GraphtoolError(f"{flag} {path}: not a readable .npz of arrays ({error})") from error


def match_arrays(arrays: dict[str, np.ndarray], names: Sequence[str], origin: str) -> tuple[dict, str | None]:
    """Match npz arrays to input names: by name, or by position when no name matches and counts agree."""
    if any(name in arrays for name in names):
        missing = [name for name in names if name not in arrays]
        if missing:
            raise GraphtoolError(
                f"{origin}: no array for input(s) {', '.join(missing)}; it holds {', '.join(arrays)}"
            )
        return {name: arrays[name] for name in names}, None
    if len(arrays) == len(names):
        matched = dict(zip(names, arrays.values(), strict=True))
        pairs = ", ".join(f"{a}->{n}" for a, n in zip(arrays, names, strict=True))
        return matched, f"{origin}: no array is named after an input; matched by position ({pairs})"
    raise GraphtoolError(
        f"{origin}: arrays {', '.join(arrays) or '(none)'} match none of the inputs {', '.join(names)}"
    )


def example_arrays(specs: Sequence[InputSpec], seed: int = 0,
                   bounds: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Seeded example data for each spec (see random_array); integer inputs below their `bounds`."""
    rng = np.random.default_rng(seed)
    bounds = bounds or {}
    return {spec.name: random_array(spec.name, spec.example_shape(), spec.dtype, rng, bounds.get(spec.name))
            for spec in specs}


def random_array(name: str, shape: Sequence[int], dtype: str, rng, high: int | None = None) -> np.ndarray:
    """Normal floats, non-negative ints below `high`, random booleans; inputs named like a mask get padding."""
    dtype = "float32" if dtype == "bfloat16" else dtype
    if "mask" in name.lower() and (dtype == "bool" or dtype.startswith(("int", "uint", "float"))):
        return padding_mask(tuple(shape), rng).astype(dtype)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        return rng.integers(0, high or DEFAULT_INT_HIGH, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def padding_mask(shape: tuple[int, ...], rng) -> np.ndarray:
    """Ones then zeros along the last axis, at least one one per row: what an attention mask holds."""
    if not shape or shape[-1] == 0:
        return np.ones(shape, dtype=bool)
    lengths = rng.integers(1, shape[-1] + 1, size=shape[:-1])
    return np.arange(shape[-1]) < lengths[..., None]


def graph_input_specs(model: onnx.ModelProto) -> list[InputSpec]:
    """The model's inputs (initializers excluded) as specs; symbolic dims by name, unknown as None."""
    specs = []
    for value in graph_inputs(model.graph):
        tensor_type = value.type.tensor_type
        dims = tuple(dim_label(dim) for dim in tensor_type.shape.dim)
        dtype = dtype_name(tensor_type.elem_type) if tensor_type.elem_type else "float32"
        specs.append(InputSpec(value.name, dims, dtype))
    return specs
