"""A served model's interface: tensor names, dtypes and dims, and each protocol's names for the dtypes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["TensorSpec", "Interface", "from_arrays", "V2_DTYPES", "TF_DTYPES", "TRITON_DTYPES", "numpy_dtype",
           "wire_dtype"]

# numpy dtype name -> the name each protocol uses
V2_DTYPES = {"bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
             "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "float16": "FP16",
             "float32": "FP32", "float64": "FP64", "object": "BYTES"}
TF_DTYPES = {"bool": "DT_BOOL", "uint8": "DT_UINT8", "uint16": "DT_UINT16", "uint32": "DT_UINT32",
             "uint64": "DT_UINT64", "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64",
             "float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "object": "DT_STRING"}
# Triton loads a bfloat16 SavedModel or TorchScript tensor as TYPE_BF16; graphtool's own wire carries it as float32
TRITON_DTYPES = {**{name: "TYPE_" + ("STRING" if v2 == "BYTES" else v2) for name, v2 in V2_DTYPES.items()},
                 "bfloat16": "TYPE_BF16"}
_FROM_V2 = {v2: name for name, v2 in V2_DTYPES.items()}
# JSON and numpy's own dtypes have no bfloat16: such a tensor travels as float32 (exact for its values), and the
# runners cast float feeds to the dtype the model declares
_ON_THE_WIRE = {"bfloat16": "float32"}


def wire_dtype(dtype: str) -> str:
    """The numpy dtype a tensor of `dtype` is sent and answered in: its own, bfloat16 as float32."""
    return _ON_THE_WIRE.get(dtype, dtype)


def numpy_dtype(v2: str) -> str | None:
    """The numpy dtype name for an Open Inference Protocol datatype, None when unknown."""
    return _FROM_V2.get(v2)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: name, numpy dtype name and dims (-1 for a dim that varies)."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    def accepts(self, shape: Sequence[int]) -> bool:
        """Whether an array of `shape` fits these dims."""
        return len(shape) == len(self.shape) and all(d in (-1, s) for d, s in zip(self.shape, shape, strict=True))


@dataclass(frozen=True)
class Interface:
    """A model's inputs and outputs, in the order the model takes and returns them."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def to_dict(self) -> dict:
        return {"inputs": [s.to_dict() for s in self.inputs], "outputs": [s.to_dict() for s in self.outputs]}

    @classmethod
    def from_dict(cls, data: Mapping) -> Interface:
        def specs(items):
            return tuple(TensorSpec(i["name"], i["dtype"], tuple(int(d) for d in i["shape"])) for i in items)

        return cls(specs(data["inputs"]), specs(data["outputs"]))

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> Interface:
        return cls.from_dict(json.loads(path.read_text()))

    def batched(self) -> bool:
        """Whether every tensor's leading dim varies, so a server may batch requests along it."""
        return all(s.shape and s.shape[0] == -1 for s in self.inputs + self.outputs)


def from_arrays(names: Sequence[str], samples: Sequence[Sequence[np.ndarray]]) -> tuple[TensorSpec, ...]:
    """Specs from the arrays of several samples: a dim that differs between samples becomes -1."""
    specs = []
    for position, name in enumerate(names):
        arrays = [np.asarray(sample[position]) for sample in samples]
        dims = [-1 if len({a.shape[i] if a.ndim > i else None for a in arrays}) > 1 else arrays[0].shape[i]
                for i in range(arrays[0].ndim)]
        specs.append(TensorSpec(name, arrays[0].dtype.name, tuple(int(d) for d in dims)))
    return tuple(specs)


