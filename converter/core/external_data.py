"""Weights outside the protobuf: models over 2 GB keep their initializers in a data file, memory-mapped when read."""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
import operator
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from converter.core.onnx_utils import element_size, iter_graphs

__all__ = [
    "THRESHOLD_ENV", "threshold", "weight_bytes", "uses_external_data", "externalize", "scratch_folder",
    "release_with", "weights_at", "weights_folder", "tensor_array", "save_model", "data_path", "move_data",
    "remove_data",
]

# Above this many bytes of weights a model keeps them in a data file (protobuf refuses to serialize 2 GiB).
THRESHOLD_ENV = "GRAPHTOOL_EXTERNAL_DATA_BYTES"
_DEFAULT_THRESHOLD = 1 << 30
_MIN_TENSOR_BYTES = 1024  # small tensors (shapes, scalars) stay inline, where shape inference reads them
_ALIGN = 64
_CHUNK = 64 << 20

_FOLDER: contextvars.ContextVar[Path | None] = contextvars.ContextVar("graphtool_weights_folder", default=None)


def threshold() -> int:
    """Weight bytes above which models go external: $GRAPHTOOL_EXTERNAL_DATA_BYTES, else 1 GiB."""
    text = os.environ.get(THRESHOLD_ENV, "")
    return int(text) if text.strip().isdigit() else _DEFAULT_THRESHOLD


def _initializers(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    return itertools.chain.from_iterable(graph.initializer for graph in iter_graphs(model.graph))


def _is_external(tensor: onnx.TensorProto) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL


def _nbytes(tensor: onnx.TensorProto) -> int:
    if tensor.data_location != onnx.TensorProto.EXTERNAL and tensor.HasField("raw_data"):
        return len(tensor.raw_data)
    # math.prod and a cached size: numpy per tensor made this scan a tenth of a 100k-node inspect
    return math.prod(tensor.dims) * element_size(tensor.data_type)


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes of all initializers, inline or external."""
    return sum(map(_nbytes, _initializers(model)))


_LOCATION = operator.attrgetter("data_location")


def uses_external_data(model: onnx.ModelProto) -> bool:
    """Whether any initializer lives in a data file."""
    return onnx.TensorProto.EXTERNAL in set(map(_LOCATION, _initializers(model)))


def scratch_folder() -> Path:
    """A temporary folder for a loaded model's weights; `release_with` ties its removal to the model."""
    return Path(tempfile.mkdtemp(prefix="graphtool-weights-"))


def release_with(owner: Any, folder: Path) -> None:
    """Remove `folder` once `owner` is garbage-collected, or at exit."""
    weakref.finalize(owner, shutil.rmtree, str(folder), True)


def externalize(model: onnx.ModelProto, folder: Path, name: str = "weights.bin") -> None:
    """Move every inline initializer of 1 KiB or more into `folder/name`, in place, one tensor at a time."""
    with open(folder / name, "ab") as stream:
        for tensor in _initializers(model):
            if _is_external(tensor) or _nbytes(tensor) < _MIN_TENSOR_BYTES:
                continue
            offset = _pad(stream)
            data = tensor.raw_data if tensor.HasField("raw_data") else numpy_helper.to_array(tensor).tobytes()
            stream.write(data)
            _point_at(tensor, name, offset, len(data))


def _pad(stream: Any) -> int:
    offset = stream.tell()
    padding = -offset % _ALIGN
    stream.write(b"\0" * padding)
    return offset + padding


def _point_at(tensor: onnx.TensorProto, location: str, offset: int, length: int) -> None:
    for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        tensor.ClearField(field)
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


@contextlib.contextmanager
def weights_at(folder: Path | None) -> Iterator[None]:
    """Resolve external initializers against `folder` inside the block (converters and runners read it)."""
    token = _FOLDER.set(folder)
    try:
        yield
    finally:
        _FOLDER.reset(token)


def weights_folder() -> Path | None:
    """The folder external initializers are read from in this block, if any."""
    return _FOLDER.get()


def _info(tensor: onnx.TensorProto) -> dict[str, str]:
    return {entry.key: entry.value for entry in tensor.external_data}


def tensor_array(tensor: onnx.TensorProto) -> np.ndarray:
    """A tensor's value; external data is memory-mapped read-only, never copied through protobuf."""
    if not _is_external(tensor):
        return numpy_helper.to_array(tensor)
    folder = weights_folder()
    if folder is None:
        raise ValueError(f"initializer '{tensor.name}' is stored externally, but no weights folder is set")
    info = _info(tensor)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
    shape = tuple(int(d) for d in tensor.dims)
    if int(np.prod(shape, dtype=np.int64)) == 0:
        return np.zeros(shape, dtype)
    array = np.memmap(folder / info["location"], dtype=dtype.newbyteorder("<"), mode="r",
                      offset=int(info.get("offset", "0")), shape=shape)
    return array.view(np.ndarray)


def data_path(path: Path) -> Path:
    """The data file written beside an ONNX file that keeps its weights outside."""
    return path.with_name(path.name + ".data")


def save_model(model: onnx.ModelProto, path: Path, folder: Path | None) -> bool:
    """Write `model` to `path`; external weights (from `folder`) stream into `path.data`. True if it went external.

    A model under the threshold with inline weights is written as one file, as before.
    """
    if not uses_external_data(model) and weight_bytes(model) <= threshold():
        onnx.save_model(model, str(path))
        return False
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # the graph only: the weights are external or moved out tensor by tensor below
    target = data_path(path)
    with open(target, "wb") as stream:
        for tensor in _initializers(copy):
            if _is_external(tensor):
                offset = _pad(stream)
                length = _copy_extent(folder, _info(tensor), stream)
                _point_at(tensor, target.name, offset, length)
    externalize(copy, path.parent, target.name)
    onnx.save_model(copy, str(path))
    return True


def _copy_extent(folder: Path | None, info: dict[str, str], stream: Any) -> int:
    if folder is None:
        raise ValueError("the model's weights are stored externally, but no weights folder is set")
    offset = int(info.get("offset", "0"))
    source = folder / info["location"]
    length = int(info["length"]) if "length" in info else source.stat().st_size - offset
    with open(source, "rb") as data:
        data.seek(offset)
        left = length
        while left:
            chunk = data.read(min(left, _CHUNK))
            if not chunk:
                raise ValueError(f"{source}: shorter than its tensors declare")
            stream.write(chunk)
            left -= len(chunk)
    return length


def move_data(staging: Path, path: Path) -> None:
    """After `staging` was renamed to `path`: move its data file too and point the model at the new name."""
    old = data_path(staging)
    if not old.exists():
        return
    new = data_path(path)
    os.replace(old, new)
    model = onnx.load_model(str(path), load_external_data=False)
    for tensor in _initializers(model):
        if _is_external(tensor) and _info(tensor).get("location") == old.name:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = new.name
    temporary = path.with_name(f".{path.name}.relocated")
    onnx.save_model(model, str(temporary))
    os.replace(temporary, path)


def remove_data(path: Path) -> None:
    """Delete the data file beside `path`, if any."""
    data_path(path).unlink(missing_ok=True)
