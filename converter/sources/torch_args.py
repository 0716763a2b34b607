"""forward() arguments by name (defaults kept) and any output structure flattened to named tensors."""

from __future__ import annotations

import copy
import inspect
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from converter.core.errors import GraphtoolError
from converter.sources.contents import NeedsInputsError

__all__ = [
    "Argument", "arguments", "choose", "flatten_outputs", "bind", "as_kwargs", "describe_arguments", "call_checked",
    "is_cache", "CacheSlot", "cache_inputs",
]

_KINDS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True)
class Argument:
    """One forward() parameter: its name and whether it has a default (then it need not be given)."""

    name: str
    required: bool
    positional: bool = True


def arguments(module: Any) -> list[Argument]:
    """forward()'s named parameters in order, without self, *args and **kwargs."""
    try:
        parameters = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [Argument(p.name, p.default is inspect.Parameter.empty, p.kind is not inspect.Parameter.KEYWORD_ONLY)
            for p in parameters if p.kind in _KINDS]


def choose(params: Sequence[Argument], given: Sequence[str], origin: str, how: str) -> list[str]:
    """The traced arguments: those given, in forward() order; a required one not given is an error.

    A dict argument's entries are given as `param.key`; they keep their own order within the argument.
    """
    known = {p.name for p in params}
    unknown = [name for name in given if name.partition(".")[0] not in known]
    if unknown and params:
        dotted = next((name for name in given if "." in name), None)
        entries = f" (a dict argument's entries as ARG.KEY, e.g. {dotted})" if dotted else ""
        raise GraphtoolError(f"{how} {unknown[0]}: forward() has no argument '{unknown[0].partition('.')[0]}'; "
                             f"it takes {', '.join(p.name for p in params)}{entries}")
    if any("." in name for name in given):
        tops = choose(params, list(dict.fromkeys(name.partition(".")[0] for name in given)), origin, how)
        return [name for top in tops for name in given if name.partition(".")[0] == top]
    missing = [p.name for p in params if p.required and p.name not in given]
    if missing:
        raise NeedsInputsError(f"{origin}: forward() requires {', '.join(missing)}, not given; pass --input "
                               f"{missing[0]}:DIMS[:DTYPE] (e.g. {missing[0]}:batch,16) or --inputs data.npz", missing)
    return [p.name for p in params if p.name in given] if params else list(given)


def describe_arguments(params: Sequence[Argument], traced: Sequence[str], fixed: Sequence[str] = ()) -> str | None:
    """The inspect note: which arguments were traced and which kept their defaults (`fixed` ones did not)."""
    tops = {name.partition(".")[0] for name in traced} | set(fixed)
    kept = [p.name for p in params if p.name not in tops]
    if not kept:
        return None
    return f"traced forward() argument(s) {', '.join(traced)}; kept the default of {', '.join(kept)}"


def flatten_outputs(value: Any, prefix: str = "output") -> Iterator[tuple[str, Any]]:
    """Named tensors of a result, in one order: dicts and ModelOutputs by key, sequences by index, caches by layer.

    A tensor alone is `output`; a tuple gives `output_0`, `output_1`; a dict (or ModelOutput) its keys, and where
    a key repeats in nested dicts, each such tensor its path (`text_model_output.last_hidden_state`); a
    transformers cache `present.N.key` / `present.N.value` (and `present.N.cross_key` / `cross_value` for an
    encoder-decoder cache, `present.N.conv` / `present.N.recurrent` for a Mamba-style one). Nones are left out.
    """
    leaves = list(_leaves(value, prefix, ""))
    counts = Counter(short for short, _, _ in leaves)
    for short, path, tensor in leaves:
        yield (short if counts[short] == 1 else path or short), tensor


def _leaves(value: Any, short: str, path: str) -> Iterator[tuple[str, str, Any]]:
    """(name, path, tensor) of each tensor: its name as the innermost dict key gives it, and its full path."""
    if value is None:
        return
    if is_cache(value):
        yield from ((name, name, tensor) for name, tensor in _flatten_cache(value))
    elif isinstance(value, dict):  # ModelOutput is an OrderedDict of its non-None fields
        for key, item in value.items():
            yield from _leaves(item, str(key), f"{path}.{key}" if path else str(key))
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{short}_{index}", f"{path or short}_{index}")
    else:
        yield short, path, value


def is_cache(value: Any) -> bool:
    """A transformers cache object (DynamicCache, EncoderDecoderCache, a Mamba-style linear-attention cache)."""
    named = type(value).__name__.endswith("Cache")
    return hasattr(value, "self_attention_cache") or (named and hasattr(value, "layers"))


def _flatten_cache(cache: Any) -> Iterator[tuple[str, Any]]:
    self_cache = getattr(cache, "self_attention_cache", cache)
    cross = getattr(cache, "cross_attention_cache", None)
    for index, layer in enumerate(self_cache.layers):
        yield from _layer_states(f"present.{index}", layer, "")
    for index, layer in enumerate(getattr(cross, "layers", ())):
        yield from _layer_states(f"present.{index}", layer, "cross_")


def _layer_states(prefix: str, layer: Any, kind: str) -> Iterator[tuple[str, Any]]:
    """An attention layer's keys and values; a linear-attention (Mamba) layer's conv and recurrent states."""
    for attribute in ("keys", "values"):
        if getattr(layer, attribute, None) is not None:
            yield f"{prefix}.{kind}{attribute.removesuffix('s')}", getattr(layer, attribute)
    for attribute in ("conv_states", "recurrent_states"):
        states = getattr(layer, attribute, None) or {}
        for index, state in states.items():
            suffix = f"_{index}" if len(states) > 1 else ""
            yield f"{prefix}.{kind}{attribute.removesuffix('_states')}{suffix}", state


PAST = "past"  # a cache argument's tensors are the inputs past.N.key, past.N.value


@dataclass(frozen=True)
class CacheSlot:
    """A cache argument, rebuilt at every call from the past.N.key / past.N.value inputs (a DynamicCache)."""

    layers: int

    def build(self, past: dict) -> Any:
        from transformers import DynamicCache

        return DynamicCache(ddp_cache_data=[(past[f"{i}.key"], past[f"{i}.value"]) for i in range(self.layers)])


def cache_inputs(values: dict[str, Any], origin: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An example DynamicCache as named tensors (past.N.key, past.N.value) and its slot among the constants.

    Other caches (an EncoderDecoderCache, sliding-window or linear-attention layers) are refused in one line:
    their tensors would otherwise be frozen into the graph, and the model would change them in place.
    """
    tensors: dict[str, Any] = {}
    constants = dict(values)
    for name, value in values.items():
        if not is_cache(value):
            continue
        layers = getattr(value, "layers", ())
        plain = type(value).__name__ == "DynamicCache" and all(type(layer).__name__ == "DynamicLayer"
                                                               and layer.keys is not None for layer in layers)
        if not plain or tensors:
            raise GraphtoolError(
                f"{origin}: example input {name} is a transformers {type(value).__name__}, which graphtool takes "
                f"as an input only as one DynamicCache of filled attention layers; leave {name} out and pass "
                "use_cache=False to convert the first step, or give a forward() that takes the past keys and "
                "values as tensors"
            )
        for index, layer in enumerate(layers):
            tensors[f"{PAST}.{index}.key"], tensors[f"{PAST}.{index}.value"] = layer.keys, layer.values
        constants[name] = CacheSlot(len(layers))
    return tensors, constants


def _fixed(constants: dict | None, kwargs: dict) -> dict:
    """The constant arguments, copied (a call never changes them), a cache slot filled from the past inputs."""
    fixed = copy.deepcopy(constants or {})
    past = kwargs.pop(PAST, {}) if any(isinstance(value, CacheSlot) for value in fixed.values()) else {}
    return {name: value.build(past) if isinstance(value, CacheSlot) else value for name, value in fixed.items()}


def bind(module: Any, names: Sequence[str], constants: dict | None = None) -> Any:
    """A module taking exactly `names` positionally, calling `module` by keyword, returning a flat tensor tuple.

    Arguments not named keep their defaults; `constants` (non-tensor flags) are passed as they are.
    """
    import torch

    fixed = dict(constants or {})

    class Bound(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *args: Any) -> tuple:
            kwargs = as_kwargs(names, args)
            result = self.inner(**kwargs, **_fixed(fixed, kwargs))
            return tuple(tensor for _, tensor in flatten_outputs(result))

    return Bound().eval()


def as_kwargs(names: Sequence[str], args: Sequence[Any]) -> dict[str, Any]:
    """Keyword arguments for forward(): `param.key` names are rebuilt into the dict argument `param`."""
    kwargs: dict[str, Any] = {}
    for name, tensor in zip(names, args, strict=True):
        top, dot, key = name.partition(".")
        if dot:
            kwargs.setdefault(top, {})[key] = tensor
        else:
            kwargs[name] = tensor
    return kwargs


class _MissingEntry(KeyError):
    """forward() read a key of a dict argument that was not given."""


class _Entries(dict):
    """A dict argument's given entries; reading one not given raises _MissingEntry (still a KeyError)."""

    def __init__(self, argument: str, entries: dict) -> None:
        super().__init__(entries)
        self.argument = argument

    def __missing__(self, key: Any) -> Any:
        raise _MissingEntry(self.argument, key, [f"{self.argument}.{k}" for k in self])


def call_checked(module: Any, names: Sequence[str], args: Sequence[Any], constants: dict | None, how: str) -> Any:
    """Call forward() by keyword, eagerly; a key it reads of a dict argument but not given is a one-line error."""
    given = as_kwargs(names, args)
    fixed = _fixed(constants, given)
    kwargs = {name: _Entries(name, value) if isinstance(value, dict) else value for name, value in given.items()}
    try:
        return module(**kwargs, **fixed)
    except _MissingEntry as error:
        argument, key, given = error.args
        raise GraphtoolError(
            f"{how}: forward() reads {argument}['{key}'], but no {argument}.{key} is given; a dict argument needs "
            f"every key it reads (given: {', '.join(given)})"
        ) from error
