"""The Python API the CLI is a thin layer over: load, convert and inspect models."""

from __future__ import annotations

import inspect as inspect_module
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from converter import pyref
from converter.atomic import atomic_path, check_writable, move_into_place, remove, staging_path
from converter.deadline import deadline
from converter.errors import GraphtoolError
from converter.formats import FRAMEWORK, Format, detect
from converter.graphs.summary import Summary, summarize
from converter.inputs import InputSpec, example_arrays, load_npz, match_arrays, merge_specs, parse_spec
from converter.normalize import DEFAULT_OPSET, normalize
from converter.sources.base import LoadedModel, LoadOptions, SourceInfo
from converter.sources.common import class_names, quiet
from converter.sources.onnx_source import graph_input_specs, load_onnx
from converter.targets.artifacts import TARGETS, target_named
from converter.validation.report import ValidationReport
from converter.validation.runners import Runner
from converter.validation.tolerance import Tolerances

if TYPE_CHECKING:  # the graph modules load networkx and graphviz: only diff and render pay for them
    from converter.graphs.verbs import DiffResult, RenderResult

__all__ = [
    "load", "convert", "inspect", "diff", "render", "ConvertResult", "DiffResult", "RenderResult", "LoadOptions",
    "LoadedModel", "TARGETS",
]


@dataclass(frozen=True)
class ConvertResult:
    """The written artifact and its validation against the source; true when it passed (or was not run)."""

    output: Path
    target: str
    source: SourceInfo
    report: ValidationReport | None
    report_path: Path | None = None
    removed: bool = False
    artifact: dict = field(default_factory=dict)  # what the target's writer reports (renames, strategy, ...)

    def __bool__(self) -> bool:
        return self.report is None or bool(self.report)

    def to_dict(self) -> dict:
        return {
            "output": str(self.output),
            "target": self.target,
            "source": self.source.to_dict(),
            "passed": bool(self),
            "removed": self.removed,
            "artifact": self.artifact,
            "report_path": str(self.report_path) if self.report_path else None,
            "validation": self.report.to_dict() if self.report is not None else None,
        }


def load(source: str | Path | Any, options: LoadOptions | None = None, **fields: Any) -> LoadedModel:
    """Load a model file, Python reference or in-memory model and normalize it to ONNX.

    Options come as a LoadOptions or as its fields: load("m.pt", input_specs=["x:batch,8"], trace="auto").
    """
    options = replace(options or LoadOptions(), **fields)
    with deadline(options.timeout, f"loading {_describe(source)}"):
        return _load(source, options)


def _describe(source: Any) -> str:
    return str(source) if isinstance(source, (str, Path)) else type(source).__name__


def _load(source: str | Path | Any, options: LoadOptions) -> LoadedModel:
    if isinstance(source, onnx.ModelProto):
        return _finish_onnx(LoadedModel(source, SourceInfo("<memory>", Format.ONNX.value, "onnx")), options)
    if not isinstance(source, (str, Path)):
        return _load_object(source, "<memory>", options)
    detected = detect(str(source), options.source_format)
    location = detected.location
    if detected.format is Format.ONNX:
        return _finish_onnx(load_onnx(location, options), options)
    if detected.format is Format.PYTHON:
        return _load_object(pyref.resolve(location), location, options)
    if FRAMEWORK[detected.format] == "torch":
        from converter.sources import torch_load

        model = torch_load.read_torch(detected.format, location, options)
        return _load_torch(model, detected.format, location, options)
    from converter.sources import tf_source

    model = tf_source.read_tf(detected.format, location, options.signature, options.trust_code)
    return _load_tf(model, detected.format, location, options)


def convert(
    source: str | Path | Any,
    target: str = "onnx",
    output: str | Path | None = None,
    options: LoadOptions | None = None,
    force: bool = False,
    *,
    validate: bool = True,
    keep_failed: bool = False,
    samples: int = 3,
    tolerances: Tolerances | None = None,
) -> ConvertResult:
    """Load, write the target artifact atomically, then validate it against the source on the same samples.

    On a mismatch the validation report is written beside the output and the artifact is removed,
    unless `keep_failed`.
    """
    writer = target_named(target)
    path = Path(output) if output is not None else default_output(source, target)
    check_writable(path, force)  # before any slow work, so a refusal costs nothing
    loaded = load(source, options)
    staging = staging_path(path)  # validated there first: a failed artifact never replaces an existing one
    try:
        with deadline((options or LoadOptions()).timeout, f"converting to {target}"), quiet():
            artifact = _relocated(writer.write(loaded, staging, False), staging, path)
        report = None
        if validate:
            with quiet():  # frameworks log while they load an artifact
                runner = writer.runner(staging, loaded, artifact)
            report = _validate_artifact(loaded, runner, samples, tolerances or Tolerances(), options or LoadOptions())
        if report is None or report or keep_failed:
            move_into_place(staging, path, force)
    finally:
        remove(staging)
    if report is None or report:
        return ConvertResult(path, target, loaded.source, report, artifact=artifact)
    report_path = path.with_name(path.name + ".validation.json")
    with atomic_path(report_path, force=True) as temporary:
        temporary.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    return ConvertResult(path, target, loaded.source, report, report_path, removed=not keep_failed, artifact=artifact)


def _relocated(details: dict, staging: Path, path: Path) -> dict:
    """The writer's report, naming the final path rather than the staging one."""
    return {key: str(path) if value == str(staging) else value for key, value in details.items()}


def inspect(source: str | Path | Any, options: LoadOptions | None = None) -> Summary:
    """Load a model and summarize it."""
    return summarize(load(source, options))


def diff(a: str | Path | Any, b: str | Path | Any, options: LoadOptions | None = None, *, atol: float = 0.0,
         render_to: str | Path | None = None, force: bool = False) -> DiffResult:
    """Compare two models in any formats, matched by structure; with `render_to`, draw the diff there too."""
    from converter.graphs.verbs import diff_models

    return diff_models(a, b, lambda source: load(source, options), atol=atol, force=force,
                       render_to=Path(render_to) if render_to is not None else None)


def render(model: str | Path | Any, output: str | Path | None = None, options: LoadOptions | None = None, *,
           fmt: str | None = None, depth: int | None = None, expand: Iterable[str] = (), focus: str | None = None,
           radius: int = 2, max_nodes: int = 300, force: bool = False) -> RenderResult:
    """Draw a model with Graphviz (default: graphviz_out/MODEL.svg), clustered by scope, big graphs folded."""
    from converter.graphs.verbs import render_model

    return render_model(model, lambda source: load(source, options), Path(output) if output else None, fmt=fmt,
                        depth=depth, expand=expand, focus=focus, radius=radius, max_nodes=max_nodes, force=force)


def default_output(source: Any, target: str) -> Path:
    """Next to the model, with the target's suffix (a SavedModel: a NAME_savedmodel folder)."""
    suffix = target_named(target).suffix or "_savedmodel"
    text = str(source) if isinstance(source, (str, Path)) else "model"
    file, sep, name = text.rpartition(":")
    if sep and not Path(text).exists():
        return Path(file).with_name(name + suffix)
    path = Path(text.rstrip("/"))
    if path.suffix == suffix or path.name.endswith(suffix):  # never the source itself
        return path.with_name(path.stem + (".normalized" if target == "onnx" else ".converted") + suffix)
    return path.with_name(path.stem + suffix) if path.suffix else path.with_name(path.name + suffix)


def _validate_artifact(
    loaded: LoadedModel, runner: Runner, samples: int, tolerances: Tolerances, options: LoadOptions
) -> ValidationReport:
    """The written artifact, run as its target runs it, against the source framework (onnxruntime for ONNX)."""
    from converter.validation.engine import compare_sides, samples_for, side_of
    from converter.validation.runners import ort_runner

    artifact = side_of(loaded, runner)
    expected = side_of(loaded, None if loaded.reference else ort_runner(loaded.model))
    chosen = samples_for(loaded, samples, seed=0, from_file=options.inputs_file is not None)
    return compare_sides(expected, [artifact], chosen, tolerances)




def _given_specs(options: LoadOptions) -> list[InputSpec]:
    return [parse_spec(text) for text in options.input_specs]


def _examples(specs: list[InputSpec], options: LoadOptions) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Input data and notes about how it was matched: from --inputs, or seeded from the specs."""
    if options.inputs_file is None:
        return example_arrays(specs), ()
    origin = f"--inputs {options.inputs_file}"
    arrays, note = match_arrays(load_npz(options.inputs_file), [s.name for s in specs], origin)
    return arrays, (note,) if note else ()


def _finish_onnx(loaded: LoadedModel, options: LoadOptions) -> LoadedModel:
    original = loaded.model
    model = normalize(onnx.ModelProto.FromString(original.SerializeToString()), opset=options.opset,
                      origin=loaded.source.path)
    specs = merge_specs(graph_input_specs(model), _given_specs(options))
    loaded.model = model
    loaded.example_inputs, notes = _examples(specs, options)
    loaded.source = replace(loaded.source, notes=loaded.source.notes + notes)
    if options.opset is not None:  # the original is the reference for the opset conversion
        from converter.validation.runners import ort_runner

        loaded.reference = ort_runner(original).run
    return loaded


def _load_object(obj: Any, origin: str, options: LoadOptions) -> LoadedModel:
    if inspect_module.isfunction(obj) or inspect_module.isclass(obj):
        obj = _call_factory(obj, origin)
    names = class_names(obj[0] if isinstance(obj, tuple) and obj else obj)
    if any(n.startswith("torch.") for n in names):
        from converter.sources import torch_load

        return _load_torch(torch_load.from_object(obj, origin), Format.TORCH_PYTHON, origin, options)
    if any(n.startswith(("tensorflow.", "keras.", "tf_keras.")) for n in names):
        from converter.sources import tf_source

        return _load_tf(tf_source.from_object(obj, origin), Format.TF_PYTHON, origin, options)
    if isinstance(obj, onnx.ModelProto):
        return _finish_onnx(LoadedModel(obj, SourceInfo(origin, Format.ONNX.value, "onnx")), options)
    raise GraphtoolError(
        f"{origin}: returned a {type(obj).__name__}; expected a torch.nn.Module, (module, example inputs), "
        "keras.Model, tf.Module or tf.function"
    )


def _call_factory(factory: Any, origin: str) -> Any:
    try:
        return factory()
    except Exception as error:  # the user's own code failed: say where, not how graphtool got there
        raise GraphtoolError(f"{origin}: calling it failed: {type(error).__name__}: {error}") from None


def _load_torch(model: Any, fmt: Format, origin: str, options: LoadOptions) -> LoadedModel:
    from converter.sources import torch_load, torch_trace

    torch = __import__("torch")
    given = _given_specs(options)
    names = [s.name for s in model.declared] or torch_load.input_names(model.module)
    specs = _torch_specs(model, names, given, options, origin)
    if options.inputs_file is None and model.example is not None and not given:
        feeds, notes = {s.name: t.detach().cpu().numpy() for s, t in zip(specs, model.example, strict=False)}, ()
    else:
        feeds, notes = _examples(specs, options)
    args = tuple(torch.from_numpy(np.ascontiguousarray(feeds[s.name])) for s in specs)
    outputs = torch_trace.output_names(model.module, args)
    opset = options.opset or DEFAULT_OPSET
    captured = torch_trace.capture(model, specs, args, opset, options.trace, origin)
    proto = normalize(captured.model, opset=opset, input_names=[s.name for s in specs], output_names=outputs,
                      origin=origin)
    source = SourceInfo(origin, fmt.value, "torch", captured.strategy, captured.attempts, notes)
    reference = torch_trace.reference_for(model.module, [s.name for s in specs])
    return LoadedModel(proto, source, feeds, reference)


def _torch_specs(model: Any, names: list[str], given: list[InputSpec], options: LoadOptions, origin: str) -> list:
    if model.declared:
        return merge_specs(model.declared, given)
    if options.inputs_file is not None and not given:
        arrays, _ = match_arrays(load_npz(options.inputs_file), names, f"--inputs {options.inputs_file}")
        return [InputSpec(n, tuple(a.shape), a.dtype.name) for n, a in arrays.items()]
    unknown = [g.name for g in given if g.name not in names]
    if unknown:
        raise GraphtoolError(f"--input {unknown[0]}: the model has no input '{unknown[0]}'; forward() takes "
                             f"{', '.join(names) or 'no arguments'}")
    by_name = {g.name: g for g in given}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise GraphtoolError(
            f"{origin}: the input shapes are unknown; pass --input NAME:DIMS[:DTYPE] for "
            f"{', '.join(missing)} (e.g. --input {missing[0]}:batch,16, a name for each dynamic dim) "
            "or --inputs data.npz"
        )
    return [by_name[n] for n in names]


def _load_tf(model: Any, fmt: Format, origin: str, options: LoadOptions) -> LoadedModel:
    from converter.sources import tf_source

    given = _given_specs(options)
    if not model.declared and not given:
        raise GraphtoolError(f"{origin}: the input signature is unknown; pass --input NAME:DIMS[:DTYPE] for each input")
    specs = merge_specs(model.declared, given) if model.declared else given
    opset = options.opset or DEFAULT_OPSET
    proto, outputs, reference = tf_source.to_onnx(model, specs, opset, origin)
    proto = normalize(proto, opset=opset, input_names=[s.name for s in specs], output_names=outputs, origin=origin)
    feeds, notes = _examples(specs, options)
    return LoadedModel(proto, SourceInfo(origin, fmt.value, "tensorflow", "tf2onnx", notes=notes), feeds, reference)
