"""Audit a model file by its format, running nothing: the `graphtool audit` command and api.audit."""

from __future__ import annotations

from pathlib import Path

from converter.core.deadline import deadline
from converter.core.errors import GraphtoolError
from converter.core.types import LoadOptions
from converter.sources.audit.findings import Audit
from converter.sources.formats import Format, detect

__all__ = ["audit_file", "AUDITED"]

AUDITED = (Format.ONNX, Format.SAVEDMODEL, Format.TORCHSCRIPT, Format.EXPORTED_PROGRAM)


def audit_file(source: str | Path, options: LoadOptions | None = None) -> Audit:
    """The audit of a SavedModel, TorchScript archive, ExportedProgram or ONNX file; nothing of it runs."""
    options = options or LoadOptions()
    detected = detect(str(source), options.source_format)
    with deadline(options.timeout, f"auditing {source}"):
        return _audit(detected.format, detected.location)


def _audit(fmt: Format, path: str) -> Audit:
    if fmt is Format.ONNX:
        from converter.sources.audit.onnx import audit_onnx
        from converter.sources.onnx import read_onnx

        return audit_onnx(read_onnx(Path(path)), path)
    if fmt is Format.SAVEDMODEL:
        from converter.sources.audit.tf import audit_savedmodel

        return audit_savedmodel(path)
    if fmt is Format.TORCHSCRIPT:
        from converter.sources.audit.torch import audit_archive_code, audit_script_module
        from converter.sources.torch import open_torchscript

        code = audit_archive_code(path)  # torch.jit.load runs a __setstate__: one stops the audit here
        return code if code.findings else audit_script_module(open_torchscript(path), path)
    if fmt is Format.EXPORTED_PROGRAM:
        from converter.sources.audit.torch import audit_exported
        from converter.sources.torch import open_exported

        return audit_exported(open_exported(path), path)
    names = ", ".join(f.value for f in AUDITED)
    raise GraphtoolError(f"{path}: a {fmt.value} model; the graph audit covers {names} (Keras files "
                         "load in safe mode and pickles need --trust-pickle instead)")
