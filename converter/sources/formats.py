"""Detect a model's format from its content (the suffix is only a hint)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from converter.core.errors import GraphtoolError
from converter.core.naming import looks_like_reference

__all__ = ["Format", "Detected", "detect", "FRAMEWORK", "ACCEPTED"]


class Format(str, Enum):
    """Every source format graphtool loads."""

    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"
    EXPORTED_PROGRAM = "exported-program"
    TORCH_PICKLE = "torch-pickle"  # torch.save: a whole module or a state_dict
    TORCH_PYTHON = "torch-python"
    SAVEDMODEL = "savedmodel"
    KERAS = "keras"
    H5 = "h5"
    TF_PYTHON = "tf-python"
    PYTHON = "python"  # a file.py:name reference; the framework is known once it has run


FRAMEWORK = {
    Format.ONNX: "onnx",
    Format.TORCHSCRIPT: "torch",
    Format.EXPORTED_PROGRAM: "torch",
    Format.TORCH_PICKLE: "torch",
    Format.TORCH_PYTHON: "torch",
    Format.SAVEDMODEL: "tensorflow",
    Format.KERAS: "tensorflow",
    Format.H5: "tensorflow",
    Format.TF_PYTHON: "tensorflow",
    Format.PYTHON: "python",
}

ACCEPTED = (
    "ONNX (.onnx), TorchScript (.pt/.ts), ExportedProgram (.pt2), torch.save files (.pt/.pth), "
    "SavedModel directories, Keras (.keras/.h5), or a Python reference file.py:name / package.module:name"
)

MAX_UNPACKED_BYTES = 64 * 2**30
MAX_COMPRESSION_RATIO = 1000
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Detected:
    """A detected format, and the path (or reference) it was found at."""

    format: Format
    location: str


def detect(location: str, override: str | None = None) -> Detected:
    """Find the format of a path or Python reference; `override` (--from) wins when given."""
    if override is not None:
        return Detected(_parse_override(override), location)
    path = Path(location)
    if not path.exists():
        if looks_like_reference(location):
            return Detected(Format.PYTHON, location)
        raise GraphtoolError(f"{location}: no such file or directory")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return Detected(Format.SAVEDMODEL, location)
        raise GraphtoolError(
            f"{location}: a directory, but not a SavedModel (no saved_model.pb); expected {ACCEPTED}"
        )
    return Detected(_detect_file(path), location)


def _detect_file(path: Path) -> Format:
    with path.open("rb") as stream:
        head = stream.read(16)
    if not head:
        raise GraphtoolError(f"{path}: the file is empty; expected {ACCEPTED}")
    if head.startswith(_HDF5_MAGIC):
        return Format.H5
    if head.startswith(_ZIP_MAGIC):
        return _detect_zip(path)
    if head[:1] == b"\x80" and path.suffix.lower() != ".onnx":
        return Format.TORCH_PICKLE  # a legacy (non-zip) torch.save file
    if path.suffix.lower() == ".py":
        raise GraphtoolError(f"{path}: a Python file needs the object to load: {path}:NAME")
    if _parses_as_onnx(path):
        return Format.ONNX
    if path.suffix.lower() == ".onnx":
        raise GraphtoolError(f"{path}: not a readable ONNX model (truncated or damaged); re-export or re-download it")
    raise GraphtoolError(f"{path}: not a model graphtool recognizes ({_describe(head)}); expected {ACCEPTED}")


def _detect_zip(path: Path) -> Format:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise GraphtoolError(f"{path}: a damaged zip archive ({error}); expected {ACCEPTED}") from error
    _refuse_zip_bomb(path, members)
    names = [member.filename for member in members]
    members = {name.split("/", 1)[-1] for name in names}
    if "config.json" in names and "model.weights.h5" in names:
        return Format.KERAS
    if "archive_format" in members or "models/model.json" in members:
        return Format.EXPORTED_PROGRAM
    if "constants.pkl" in members and any(m.startswith("code/") for m in members):
        return Format.TORCHSCRIPT
    if "data.pkl" in members:
        return Format.TORCH_PICKLE
    raise GraphtoolError(f"{path}: a zip archive that is neither PyTorch nor Keras; expected {ACCEPTED}")


def _refuse_zip_bomb(path: Path, members: list[zipfile.ZipInfo]) -> None:
    """Declared sizes are checked before any loader unpacks a member."""
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise GraphtoolError(f"{path}: its zip members declare {unpacked / 2**30:.1f} GiB unpacked, over graphtool's "
                             f"{MAX_UNPACKED_BYTES / 2**30:.0f} GiB limit")
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 2**26 and ratio > MAX_COMPRESSION_RATIO:
            raise GraphtoolError(f"{path}: member {member.filename} would unpack {ratio:.0f}x its stored size "
                                 "(a zip bomb, or not a model)")


def _parses_as_onnx(path: Path) -> bool:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError, UnicodeDecodeError):
        return False
    return model.ir_version > 0 and model.HasField("graph")


def _parse_override(name: str) -> Format:
    aliases = {"pt2": Format.EXPORTED_PROGRAM, "pickle": Format.TORCH_PICKLE, "state-dict": Format.TORCH_PICKLE,
               "ts": Format.TORCHSCRIPT, "tf": Format.SAVEDMODEL}
    try:
        return aliases.get(name) or Format(name)
    except ValueError:
        known = ", ".join(sorted({f.value for f in Format} | set(aliases)))
        raise GraphtoolError(f"--from {name}: unknown format; expected one of {known}") from None


def _describe(head: bytes) -> str:
    printable = head[:8].decode("ascii", "replace")
    return "text starting " + repr(printable) if printable.isprintable() else "unrecognized binary content"
