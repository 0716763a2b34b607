"""The batch manifest: which models to convert to which targets, with what options; read and checked."""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter.core.config import read_config
from converter.core.errors import GraphtoolError
from converter.core.precision import BUDGETS, IO_TYPES, PRECISIONS
from converter.core.targets import TARGET_NAMES
from converter.core.types import LoadOption, load_option_specs
from converter.validation.tolerance import ERROR_STATS

__all__ = ["Task", "Manifest", "read_manifest", "OPTION_TYPES", "OptionType"]

ENTRY_KEYS = ("model", "name", "targets", "inputs", "input", "samples", "options")
DEFAULT_KEYS = ("targets", "inputs", "input", "samples", "options")
BESIDE_OPTIONS = ("inputs", "input")  # loading options an entry gives as keys of its own, not under `options`


@dataclass(frozen=True)
class OptionType:
    """What a manifest option takes: its types, the least value or the allowed values, and how to say so."""

    types: tuple[type, ...]
    expected: str
    min: float | None = None
    choices: tuple[str, ...] = ()


def _load_option_type(spec: LoadOption) -> OptionType:
    """A loading option's type in a manifest, from its LoadOptions field."""
    if spec.choices:
        return OptionType((str,), f"one of {', '.join(spec.choices)}", choices=spec.choices)
    if spec.kind is bool:
        return OptionType((bool,), "true or false")
    types, expected = {int: ((int,), "a whole number"), float: ((int, float), "a number")}.get(
        spec.kind, ((str,), "a string"))
    return OptionType(types, expected if spec.min is None else f"{expected} >= {spec.min:g}", spec.min)


# option -> its type: the loading options of LoadOptions (as the CLI's flags name them), then validation's.
# Paths are resolved against the manifest's folder.
OPTION_TYPES: dict[str, OptionType] = {
    **{spec.key: _load_option_type(spec) for spec in load_option_specs() if spec.key not in BESIDE_OPTIONS},
    "samples": OptionType((int,), "a count >= 1", 1),
    "rtol": OptionType((int, float), "a number >= 0", 0),
    "atol": OptionType((int, float), "a number >= 0", 0),
    "tolerance": OptionType((str,), "a JSON or YAML file of {output: {rtol, atol}}"),
    "error_stat": OptionType((str,), f"one of {', '.join(ERROR_STATS)}", choices=ERROR_STATS),
    "metric": OptionType((str,), "cosine, argmax, topk:K, iou or norm, optionally >=THRESHOLD"),
    "allow_inconclusive": OptionType((bool,), "true or false"),
    "validate": OptionType((bool,), "true or false"),
    "keep_failed": OptionType((bool,), "true or false"),
    "precision": OptionType((str,), f"one of {', '.join(PRECISIONS)}", choices=PRECISIONS),
    "calibration": OptionType((str,), "an .npz file (or a folder of them) of calibration batches"),
    "eval": OptionType((str,), "an .npz file of held-out data"),
    "budget": OptionType((str,), f"one of {', '.join(BUDGETS)}", choices=BUDGETS),
    "io_types": OptionType((str,), f"one of {', '.join(IO_TYPES)}", choices=IO_TYPES),
}
PATH_OPTIONS = ("tolerance", "calibration", "eval")  # files beside the manifest
PY_FILE_OPTIONS = ("model_class", "custom_objects")  # file.py[:NAME] or a module


@dataclass(frozen=True)
class Task:
    """One (model, target) to convert and validate; `key` changes with the model's content and the options."""

    model: str  # as the manifest names it (one glob match each)
    source: str  # absolute path or file.py:name reference
    target: str
    options: dict[str, Any] = field(default_factory=dict)  # resolved: paths absolute, inputs/input folded in
    key: str = ""

    @property
    def slug(self) -> str:
        """A file name for this task's result: readable, and unique through the key."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.model)[-60:].strip("._")
        return f"{safe}__{self.target}__{self.key[:12]}"

    def to_dict(self) -> dict:
        return {"model": self.model, "source": self.source, "target": self.target, "options": self.options,
                "key": self.key}


@dataclass(frozen=True)
class Manifest:
    """The tasks of a manifest, in its order."""

    path: Path
    tasks: tuple[Task, ...]

    def to_dict(self) -> dict:
        return {"path": str(self.path), "tasks": [t.to_dict() for t in self.tasks]}


def read_manifest(path: Path) -> Manifest:
    """Parse and check a manifest; every problem is a GraphtoolError naming the file and the entry."""
    data = read_config(path)
    where = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("models"), list) or not data["models"]:
        raise GraphtoolError(f"{where}: expected a mapping with a non-empty 'models' list (and optional 'defaults'); "
                             "see docs/batch.md for the schema")
    _check_keys(data, ("defaults", "models"), where)
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise GraphtoolError(f"{where}: defaults: expected a mapping, got {type(defaults).__name__}")
    _check_keys(defaults, DEFAULT_KEYS, f"{where}: defaults")
    folder = path.resolve().parent
    tasks: list[Task] = []
    for index, entry in enumerate(data["models"]):
        tasks.extend(_entry_tasks(entry, defaults, folder, f"{where}: models[{index}]"))
    seen: set = set()
    for task in tasks:
        if (task.model, task.target) in seen or task.key in seen:
            raise GraphtoolError(f"{where}: {task.model} -> {task.target} is listed twice; list each once "
                                 "(a model checked twice needs its own 'name' and different options)")
        seen.update({(task.model, task.target), task.key})
    return Manifest(path, tuple(tasks))


def _check_keys(mapping: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise GraphtoolError(f"{where}: unknown key '{unknown[0]}'; expected {', '.join(allowed)}")


def _entry_tasks(entry: Any, defaults: dict, folder: Path, where: str) -> list[Task]:
    if isinstance(entry, str):
        entry = {"model": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("model"), str) or not entry["model"]:
        raise GraphtoolError(f"{where}: expected a mapping with 'model: PATH, GLOB or file.py:NAME'")
    _check_keys(entry, ENTRY_KEYS, where)
    for part, label in ((defaults, "defaults"), (entry, "this entry")):
        if not isinstance(part.get("options", {}), dict):
            raise GraphtoolError(f"{where}: options of {label}: expected a mapping of option -> value")
    merged = {**defaults, **{k: v for k, v in entry.items() if k != "options"}}
    options: dict[str, Any] = {}
    for part in (defaults, entry):  # the entry wins over the defaults; `samples` may sit beside `options`
        options.update(part.get("options") or {})
        if "samples" in part:
            options["samples"] = part["samples"]
    options = _checked_options(options, folder, where)
    options.update(_inputs(merged, folder, where))
    targets = _targets(merged.get("targets", ["onnx"]), where)
    tasks = []
    sources = _sources(entry["model"], folder, where)
    for label, source in sources:
        name = entry.get("name") if entry.get("name") and len(sources) == 1 else label
        content = _content_hash(source, options)
        for target in targets:
            key = hashlib.sha256(json.dumps([content, target, options], sort_keys=True).encode()).hexdigest()
            tasks.append(Task(str(name), source, target, options, key))
    return tasks


def _targets(value: Any, where: str) -> list[str]:
    targets = [value] if isinstance(value, str) else value
    if not isinstance(targets, list) or not targets:
        raise GraphtoolError(f"{where}: targets: expected a list of {', '.join(TARGET_NAMES)}")
    for target in targets:
        if target not in TARGET_NAMES:
            raise GraphtoolError(f"{where}: targets: '{target}' is not a target; expected {', '.join(TARGET_NAMES)}")
    return list(dict.fromkeys(targets))


def _checked_options(options: dict, folder: Path, where: str) -> dict:
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name not in OPTION_TYPES:
            raise GraphtoolError(f"{where}: options: unknown option '{name}'; expected {', '.join(OPTION_TYPES)}")
        kind = OPTION_TYPES[name]
        if float in kind.types and isinstance(value, str):
            value = _number(value)  # PyYAML reads 1e-4 (no dot) as a string
        if isinstance(value, bool) and bool not in kind.types or not isinstance(value, kind.types) or (
                kind.choices and value not in kind.choices) or kind.min is not None and value < kind.min:
            raise GraphtoolError(f"{where}: options.{name}: expected {kind.expected}, got {value!r}")
        if name in PATH_OPTIONS:
            value = str(_existing(folder / value, f"{where}: options.{name}"))
        if name in PY_FILE_OPTIONS and (file := _py_file(value)):
            value = f"{_existing(folder / file, f'{where}: options.{name}')}{value[len(file):]}"
        checked[name] = value
    if checked.get("precision") == "int8" and "calibration" not in checked:
        raise GraphtoolError(f"{where}: options.precision int8 needs options.calibration: an .npz of calibration "
                             "batches, or use int8-dynamic")
    return checked


def _py_file(value: str) -> str | None:
    """The .py file a file.py or file.py:NAME names; None for a module."""
    file, sep, _ = value.rpartition(":")
    file = file if sep else value
    return file if file.endswith(".py") else None


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _inputs(merged: dict, folder: Path, where: str) -> dict:
    """`inputs: data.npz` (real data) and/or `input: ["x:batch,8"]` (shapes), as loading options."""
    found: dict[str, Any] = {}
    if merged.get("inputs") is not None:
        if not isinstance(merged["inputs"], str):
            raise GraphtoolError(f"{where}: inputs: expected the path of an .npz file")
        found["inputs"] = str(_existing(folder / merged["inputs"], f"{where}: inputs"))
    if merged.get("input") is not None:
        specs = [merged["input"]] if isinstance(merged["input"], str) else merged["input"]
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise GraphtoolError(f"{where}: input: expected a list of NAME:DIMS[:DTYPE], e.g. [\"x:batch,3,224,224\"]")
        found["input"] = list(specs)
    return found


def _existing(path: Path, where: str) -> Path:
    if not path.exists():
        raise GraphtoolError(f"{where}: {path} does not exist (paths are relative to the manifest's folder)")
    return path.resolve()


def _sources(model: str, folder: Path, where: str) -> list[tuple[str, str]]:
    """(label, source) per model: a file.py:NAME reference, a path, or every match of a glob."""
    file, sep, name = model.rpartition(":")
    if sep and file.endswith(".py"):
        return [(model, f"{_existing(folder / file, f'{where}: model')}:{name}")]
    if any(c in model for c in "*?["):
        matches = sorted(glob.glob(str(folder / model), recursive=True))
        if not matches:
            raise GraphtoolError(f"{where}: model: '{model}' matches nothing in {folder}; check the pattern")
        return [(str(Path(m).relative_to(folder)) if Path(m).is_relative_to(folder) else m, str(Path(m).resolve()))
                for m in matches]
    return [(model, str(_existing(folder / model, f"{where}: model")))]


def _content_hash(source: str, options: dict) -> str:
    """sha256 over the model's bytes (every file of a folder), the name a file.py:NAME reference picks in its file,
    and the bytes of the files its options name."""
    digest = hashlib.sha256()
    file, sep, name = source.rpartition(":")
    reference = bool(sep) and file.endswith(".py")
    if reference:  # factories of one file are different models; a path's key stays as it was
        digest.update(f"reference:{name}".encode())
    paths = [Path(file if reference else source)]
    paths += [Path(options[k]) for k in ("inputs", "tolerance") if k in options]
    paths += [Path(file) for k in PY_FILE_OPTIONS if k in options and (file := _py_file(options[k]))]
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for item in files:
            digest.update(str(item.relative_to(path) if path.is_dir() else item.name).encode())
            digest.update(hashlib.sha256(item.read_bytes()).digest())
    return digest.hexdigest()
