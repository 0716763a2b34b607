"""ONNX sources: read an .onnx file (with external data beside it) or take a ModelProto, then normalize it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from converter.core import external_data
from converter.core.errors import GraphtoolError
from converter.core.inputs import example_inputs, given_specs, graph_input_specs, merge_specs
from converter.core.onnx_utils import iter_graphs
from converter.core.types import LoadedModel, LoadOptions, SourceInfo
from converter.sources.formats import Format
from converter.sources.normalize import normalize

__all__ = ["load_onnx", "load_proto", "read_onnx"]


def load_onnx(path: str, options: LoadOptions) -> LoadedModel:
    """Read, check, audit (custom ops need --trust-code) and normalize an .onnx file.

    Weights it keeps outside stay there, memory-mapped.
    """
    from converter.sources.audit import enforce
    from converter.sources.audit import onnx as audit_onnx

    model, external = _read(Path(path))
    notes = enforce(audit_onnx.audit_onnx(model, path), options.trust_code, audit_onnx.KEPT)
    folder = Path(path).parent if external else None
    # nothing else holds the model read here, so it is normalized in place unless --opset keeps it as the reference
    return load_proto(model, path, options, notes, folder, copy=options.opset is not None)


def load_proto(model: onnx.ModelProto, origin: str, options: LoadOptions, notes: tuple[str, ...] = (),
               folder: Path | None = None, *, copy: bool = True) -> LoadedModel:
    """Normalize a copy of `model` (`model` itself, without `copy`); it is its own reference, unless --opset
    converts it.

    Weights over the external-data threshold move to a scratch folder first, so no step copies them
    through protobuf; `folder` is where `model`'s external weights already are.
    """
    if copy:
        model, original = onnx.ModelProto(), model
        model.CopyFrom(original)  # no serialization: works past protobuf's 2 GiB limit
    else:
        original = model
    scratch = None
    if folder is None and external_data.weight_bytes(model) > external_data.threshold():
        folder = scratch = external_data.scratch_folder()
        external_data.externalize(model, folder)
    normalized = normalize(model, opset=options.opset, origin=origin, value_shapes=options.value_shapes)
    examples, example_notes = example_inputs(merge_specs(graph_input_specs(normalized), given_specs(options)), options)
    notes = (*example_notes, *notes)
    source = SourceInfo(path=origin, format=Format.ONNX.value, framework="onnx", notes=notes)
    loaded = LoadedModel(normalized, source, examples, weights_dir=folder)
    if scratch is not None:
        external_data.release_with(loaded, scratch)
    if options.opset is not None:  # the original is the reference for the opset conversion
        from converter.core.runners import ort_runner

        loaded.reference = ort_runner(original, folder=folder)
    return loaded


def read_onnx(path: Path) -> onnx.ModelProto:
    """Parse an .onnx file and its external data; a damaged file is one clear error."""
    return _read(path)[0]


def _read(path: Path) -> tuple[onnx.ModelProto, bool]:
    """read_onnx's model, and whether its weights stay in their external files."""
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as error:
        raise GraphtoolError(f"{path}: not a readable ONNX model, truncated or damaged ({error})") from error
    if not model.HasField("graph"):
        raise GraphtoolError(f"{path}: an ONNX file without a graph; expected a complete model")
    if not _uses_external_data(model):
        _check(model, path, as_read=True)
        return model, False
    _check_external_data(model, path)
    if external_data.weight_bytes(model) > external_data.threshold():
        _check(model, path, as_read=True)
        return model, True  # weights stay in their files, memory-mapped when a converter reads them
    try:
        onnx.load_external_data_for_model(model, str(path.parent))
    except (OSError, ValueError, onnx.checker.ValidationError) as error:
        raise GraphtoolError(
            f"{path}: its external weight data cannot be read ({error}); keep the data files beside it"
        ) from error
    _check(model, path, as_read=False)  # loading the external data brought every tensor inline
    return model, False


def _check(model: onnx.ModelProto, path: Path, as_read: bool) -> None:
    """onnx's checker on the file where it holds the model as read (the checker parses it in C++, instead of
    Python serializing the model for it), else on the model unless it is too large to serialize."""
    try:
        from_file = as_read or model.ByteSize() >= onnx.checker.MAXIMUM_PROTOBUF
        onnx.checker.check_model(str(path) if from_file else model)
    except onnx.checker.ValidationError as error:
        # Not errors.first_line: the checker's first line ends "of node:" and names the problem.
        reason = str(error).strip().splitlines()[0]
        raise GraphtoolError(f"{path}: fails onnx's model checker: {reason}") from error


def _uses_external_data(model: onnx.ModelProto) -> bool:
    return external_data.uses_external_data(model)


def _initializers(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    for sub in iter_graphs(graph):
        yield from sub.initializer


def _check_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Every external tensor must live inside the model's folder and fit in its file (CVE-2024-27318)."""
    folder = path.parent.resolve()
    for tensor in _initializers(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or ".." in Path(location).parts or folder not in target.parents:
            raise GraphtoolError(f"{path}: weight '{tensor.name}' points outside the model's folder ({location!r}); "
                                 "refusing to read it")
        if not target.is_file():
            raise GraphtoolError(f"{path}: weight '{tensor.name}' is stored in {location}, which is missing; keep "
                                 "the data file beside the model")
        _check_extent(tensor, info, target, path)


def _check_extent(tensor: onnx.TensorProto, info: dict[str, str], target: Path, path: Path) -> None:
    size = target.stat().st_size
    try:
        offset = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else size - offset
    except ValueError as error:
        raise GraphtoolError(f"{path}: weight '{tensor.name}' has a malformed offset or length") from error
    if offset < 0 or length < 0 or offset + length > size:
        raise GraphtoolError(f"{path}: weight '{tensor.name}' declares {length} bytes at offset {offset}, but "
                             f"{target.name} holds only {size}; the data file is truncated or not this model's")
    itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize if tensor.data_type else 0
    needed = int(np.prod(tensor.dims, dtype=np.int64)) * itemsize if tensor.dims else itemsize
    if tensor.data_type != onnx.TensorProto.STRING and needed != length:
        raise GraphtoolError(f"{path}: weight '{tensor.name}' has shape {list(tensor.dims)} ({needed} bytes) but "
                             f"{length} bytes of data")
