"""The batch manifest: which models to convert to which targets, with what options; read and checked."""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter.core.errors import GraphtoolError

__all__ = ["Task", "Manifest", "read_manifest", "OPTION_TYPES", "TARGET_NAMES"]

TARGET_NAMES = ("onnx", "savedmodel", "tflite", "pt2", "torchscript")
TRACES = ("export", "torchscript", "fx", "auto")
ENTRY_KEYS = ("model", "name", "targets", "inputs", "input", "samples", "options")
DEFAULT_KEYS = ("targets", "inputs", "input", "samples", "options")

# option -> (expected type(s), description for the error). Paths are resolved against the manifest's folder.
OPTION_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "trace": ((str,), f"one of {', '.join(TRACES)}"),
    "opset": ((int,), "an opset number, e.g. 18"),
    "signature": ((str,), "a SavedModel signature name"),
    "model_class": ((str,), "file.py:Class"),
    "from": ((str,), "a source format name (onnx, pt2, keras, ...)"),
    "trust_pickle": ((bool,), "true or false"),
    "trust_code": ((bool,), "true or false"),
    "timeout": ((int, float), "seconds, > 0"),
    "samples": ((int,), "a count >= 1"),
    "rtol": ((int, float), "a number >= 0"),
    "atol": ((int, float), "a number >= 0"),
    "tolerance": ((str,), "a JSON or YAML file of {output: {rtol, atol}}"),
    "error_stat": ((str,), "elementwise, max, mean or cosine"),
    "metric": ((str,), "cosine, argmax, topk:K or iou, optionally >=THRESHOLD"),
    "allow_inconclusive": ((bool,), "true or false"),
    "validate": ((bool,), "true or false"),
    "keep_failed": ((bool,), "true or false"),
}


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
    data = _parse(path)
    where = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("models"), list) or not data["models"]:
        raise GraphtoolError(f"{where}: expected a mapping with a non-empty 'models' list (and optional 'defaults'); "
                             "see README 'Batch' for the schema")
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


def _parse(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as error:
        raise GraphtoolError(f"{path}: cannot read the manifest ({error.strerror}); pass a YAML or JSON file") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise GraphtoolError(f"{path}: not valid JSON ({error}); fix the manifest") from None
    try:
        import yaml
    except ImportError:
        raise GraphtoolError(f"{path}: a YAML manifest needs PyYAML: pip install 'graphtool[batch]'") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())
        raise GraphtoolError(f"{path}: not valid YAML ({detail}); fix the manifest") from None


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
        types, expected = OPTION_TYPES[name]
        if float in types and isinstance(value, str):
            value = _number(value)  # PyYAML reads 1e-4 (no dot) as a string
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise GraphtoolError(f"{where}: options.{name}: expected {expected}, got {value!r}")
        if name == "trace" and value not in TRACES or name in ("timeout", "samples") and value <= 0 or (
                name in ("rtol", "atol") and value < 0):
            raise GraphtoolError(f"{where}: options.{name}: expected {expected}, got {value!r}")
        if name == "tolerance":
            value = str(_existing(folder / value, f"{where}: options.tolerance"))
        if name == "model_class":
            file, sep, attr = value.rpartition(":")
            if sep and file.endswith(".py"):
                value = f"{_existing(folder / file, f'{where}: options.model_class')}:{attr}"
        checked[name] = value
    return checked


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
    """sha256 over the model's bytes (every file of a folder) and of the files its options name."""
    digest = hashlib.sha256()
    file, sep, _ = source.rpartition(":")
    paths = [Path(file if sep and file.endswith(".py") else source)]
    paths += [Path(options[k]) for k in ("inputs", "tolerance") if k in options]
    if "model_class" in options and ".py:" in options["model_class"]:
        paths.append(Path(options["model_class"].rpartition(":")[0]))
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for item in files:
            digest.update(str(item.relative_to(path) if path.is_dir() else item.name).encode())
            digest.update(hashlib.sha256(item.read_bytes()).digest())
    return digest.hexdigest()
