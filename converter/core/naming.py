"""One naming rule for every output: what a source is called (a file's stem, a file.py:factory's factory).

Everything that names something after its source calls `output_stem`: converted artifacts, diagrams, viewer runs.
A model server's name is `model_name`, one documented step on top of it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["output_stem", "model_name", "is_model_name", "looks_like_reference"]

# What graphtool's own outputs add to a name (convert's default outputs), so that serving one keeps the model's name
OWN_SUFFIXES = re.compile(r"(?:\.normalized|\.converted|_savedmodel)+$")
# torch-model-archiver's rule for --model-name; TF Serving and Triton take such names in their URLs as they are
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def output_stem(source: Any) -> str:
    """The name every command gives its outputs for SOURCE: a file's stem, a file.py:factory's factory."""
    if not isinstance(source, (str, Path)):
        return "model"
    text = str(source)
    target, sep, name = text.rpartition(":")
    if sep and target and not Path(text).exists() and looks_like_reference(text):
        stem = name.rsplit(".", 1)[-1]
    else:
        path = Path(text.rstrip("/\\"))
        stem = path.stem if path.suffix else path.name
    return re.sub(r"[^\w.-]+", "_", stem) or "model"


def model_name(source: Any) -> str:
    """The name a model server gives SOURCE when none is given: `output_stem`, less the suffixes graphtool's own
    outputs add (m.normalized.onnx and m_savedmodel/ serve as 'm'), in the characters every server takes."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", OWN_SUFFIXES.sub("", output_stem(source))).lstrip("_.-")
    return name or "model"


def is_model_name(name: str) -> bool:
    """Whether NAME may name a served model: ASCII letters, digits, '_', '-', '.', starting with a letter or digit."""
    return MODEL_NAME.fullmatch(name) is not None


def looks_like_reference(location: str) -> bool:
    """Whether LOCATION reads as a Python reference, file.py:name or package.module:name."""
    target, sep, name = location.rpartition(":")
    return bool(sep and target and name.isidentifier())
