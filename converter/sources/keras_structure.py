"""A Keras model's own structure: its inputs and outputs named by their path (dict keys), the call that packs flat
tensors back into the structure it was built with, and its call errors in one line."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from converter.core.errors import plain

__all__ = ["input_leaves", "packer", "output_names", "call_error"]

_CALLED = re.compile(r"Exception encountered when calling (?:layer )?['\"]?(?P<layer>[^\s'\"]+?)['\"]?(?:\.call\(\))?"
                     r"\s*\.?\s*$")
_ARGUMENTS = re.compile(r"^Arguments received by ")
_TF_PREFIX = re.compile(r"\{\{function_node [^}]*\}\}\s*")  # TensorFlow's op location, before the reason
_INFERRED = "Error encountered:"
_UNSET = "<class 'inspect._empty'>"  # Keras lists a **kwargs it never got with this value
_MAX_ARGUMENT = 160
_NOISE = re.compile(r", sparse=False|, ragged=False|, name=keras_tensor\w*")  # a KerasTensor's defaults


def input_leaves(model: Any) -> list[tuple[str, Any]]:
    """(name, KerasTensor) for each input, in the order Keras flattens them: a dict's keys name their tensors."""
    return _named_leaves(_inputs_structure(model), lambda tensor, index: getattr(tensor, "name", None)
                         or f"input_{index}")


def packer(model: Any) -> Callable[[Sequence[Any]], Any]:
    """A function from the flat input tensors (input_leaves' order) to the structure the model was built with."""
    import keras

    structure = _inputs_structure(model)
    return lambda flat: keras.tree.pack_sequence_as(structure, list(flat))


def output_names(model: Any) -> list[str] | None:
    """A dict output's keys (by path, in flattening order); otherwise Keras' own names for the outputs."""
    structure = getattr(model, "_outputs_struct", None)
    if structure is not None and _has_dict(structure):
        return [name for name, _ in _named_leaves(structure, lambda _, index: f"output_{index}")]
    return list(getattr(model, "output_names", None) or []) or None


def call_error(error: BaseException) -> str | None:
    """Keras' 'Exception encountered when calling LAYER' message as one line naming the layer, the reason and
    the arguments it got; None for any other error."""
    lines = [line.strip() for line in plain(str(error)).splitlines()]
    start = next((i for i, line in enumerate(lines) if _CALLED.search(line)), None)
    if start is None:
        return None
    layer = _CALLED.search(lines[start]).group("layer")
    end = next((i for i in range(start + 1, len(lines)) if _ARGUMENTS.match(lines[i])), len(lines))
    reason = _TF_PREFIX.sub("", " ".join(line for line in lines[start + 1:end] if line))
    reason = reason.rpartition(_INFERRED)[2].strip()  # Keras' output-spec preamble before the layer's own error
    arguments = [_short(line.lstrip("•").strip()) for line in lines[end + 1:] if line.startswith("•")]
    got = ", ".join(a for a in arguments if not a.endswith("=" + _UNSET) and not a.endswith("=None"))
    return f"Keras layer {layer} failed: {reason or type(error).__name__}" + (f" (it got {got})" if got else "")


def _inputs_structure(model: Any) -> Any:
    structure = getattr(model, "_inputs_struct", None)
    if structure is not None:
        return structure
    inputs = list(model.inputs)
    return inputs[0] if len(inputs) == 1 else inputs


def _named_leaves(structure: Any, unnamed: Callable[[Any, int], str]) -> list[tuple[str, Any]]:
    """Each leaf named by the keys of its path ("a.b", a list index kept only below a key); unnamed() otherwise."""
    import keras

    named = []
    for index, (path, leaf) in enumerate(keras.tree.flatten_with_path(structure)):
        keyed = any(isinstance(part, str) for part in path)
        named.append((".".join(str(part) for part in path) if keyed else unnamed(leaf, index), leaf))
    return named


def _has_dict(structure: Any) -> bool:
    if isinstance(structure, dict):
        return True
    return isinstance(structure, (list, tuple)) and any(_has_dict(item) for item in structure)


def _short(argument: str) -> str:
    argument = _NOISE.sub("", argument)
    return argument if len(argument) <= _MAX_ARGUMENT else argument[: _MAX_ARGUMENT - 1] + "…"
