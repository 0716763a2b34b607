"""`package`: the validated conversion, laid out the way a model server loads it, then loaded back that way."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from converter.core.errors import GraphtoolError
from converter.core.naming import is_model_name
from converter.core.targets import TARGET_NAMES
from converter.deploy.interface import Interface, from_arrays
from converter.deploy.served import INTERFACE_FILE, load_served

if TYPE_CHECKING:
    from converter.core.types import LoadedModel
    from converter.pipelines.convert import ConvertResult
    from converter.validation.tolerance import Tolerances

__all__ = ["Layout", "layouts", "PackageContext", "PackageResult", "package", "layout_named"]

@dataclass(frozen=True)
class PackageContext:
    """What a layout writes from: the validated artifact, its interface and the validation samples."""

    output: Path
    name: str
    version: int | None
    label: str | None
    force: bool
    format: str
    artifact: Path
    interface: Interface
    samples: tuple[dict[str, np.ndarray], ...]
    precision: str = "float32"  # what the model computes in (graphs.precision's line), noted where servers read it


@dataclass(frozen=True)
class Layout:
    """A server's layout: the formats it serves (the first is the default), a planner and a writer."""

    server: str
    formats: tuple[str, ...]
    plan: Callable[[Path, str, int | None, bool], int | None]  # refuse early; the version to write
    write: Callable[[PackageContext], dict]  # lays out, loads back as the server does; details for the report

    def __post_init__(self) -> None:
        for name in self.formats:  # the formats are convert's targets, by their names
            if name not in TARGET_NAMES:
                raise ValueError(f"layout {self.server}: {name} is not a target; expected {', '.join(TARGET_NAMES)}")


@dataclass(frozen=True)
class PackageResult:
    """What was packaged where, the conversion's validation, and the server-side check; true when both passed."""

    server: str
    output: Path
    name: str
    version: int | None
    format: str
    convert: ConvertResult
    details: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.convert) and bool(self.details.get("check", {}).get("passed", False))

    def to_dict(self) -> dict:
        return {"server": self.server, "output": str(self.output), "name": self.name, "version": self.version,
                "format": self.format, "passed": bool(self), **self.details, "convert": self.convert.to_dict()}


def layout_named(server: str) -> Layout:
    """The layout for `server`, or a one-line error listing them."""
    known = layouts()
    if server not in known:
        raise GraphtoolError(f"--for {server}: unknown server; expected one of {', '.join(known)}")
    return known[server]


def layouts() -> dict[str, Layout]:  # a function, so a layout's module imports only when packaging
    """The servers `package` lays out for, in an explicit list."""
    from converter.deploy import kserve, tfserving, torchserve, triton

    return {layout.server: layout for layout in (tfserving.LAYOUT, torchserve.LAYOUT, triton.LAYOUT, kserve.LAYOUT)}


def package(
    load: Callable[[], LoadedModel],
    server: str,
    output: Path,
    *,
    name: str,
    version: int | None = None,
    label: str | None = None,
    format: str | None = None,
    force: bool = False,
    samples: int = 3,
    timeout: float | None = None,
    from_file: bool = False,
    tolerances: Tolerances | None = None,
) -> PackageResult:
    """Convert and validate as `convert` does, lay the artifact out for `server`, and load it back as it would.

    `load` is called only once the server, format, name and output are known to be fine.
    """
    from converter.pipelines.convert import convert
    from converter.targets.artifacts import target_named

    layout = layout_named(server)
    fmt = format or layout.formats[0]
    if fmt not in layout.formats:
        raise GraphtoolError(f"--format {fmt}: {server} serves {', '.join(layout.formats)}; pick one of those")
    if not is_model_name(name):
        raise GraphtoolError(f"--name {name}: use letters, digits, '-', '_' or '.', starting with a letter or digit, "
                             "as servers put it in URLs")
    if not output.parent.is_dir():
        raise GraphtoolError(f"{output}: the folder {output.parent} does not exist")
    if output.exists() and not output.is_dir():
        raise GraphtoolError(f"{output}: is a file; package writes a folder (a model repository)")
    planned = layout.plan(output, name, version, force)  # before any slow work
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.package-", dir=output.parent))
    try:
        artifact = staging / ("model" + target_named(fmt).suffix)
        loaded: list[LoadedModel] = []
        converted = convert(lambda: _kept(load(), loaded), fmt, artifact, force=True, samples=samples,
                            timeout=timeout, from_file=from_file, tolerances=tolerances)
        if not converted:  # nothing of it is kept: the staging folder goes
            return PackageResult(server, output, name, planned, fmt, converted, {"check": {"passed": False}})
        renames = converted.artifact.get("inputs") if isinstance(converted.artifact.get("inputs"), dict) else {}
        feeds = tuple({renames.get(k, k): v for k, v in sample.feeds.items()} for sample in converted.report.samples
                      ) if converted.report else ()
        interface = _interface(artifact, fmt, converted, feeds)
        precision = _precision(loaded[0])
        context = PackageContext(output, name, planned, label, force, fmt, artifact, interface, feeds, precision)
        output.mkdir(exist_ok=True)
        details = layout.write(context)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PackageResult(server, output, name, planned, fmt, converted,
                         {"interface": interface.to_dict(), "precision": precision, **details})


def _kept(loaded: LoadedModel, into: list) -> LoadedModel:
    into.append(loaded)
    return loaded


def _precision(loaded: LoadedModel) -> str:
    """What the packaged model computes in: the precision mix of the graph every format is written from
    ('int8 (QDQ, static), 2/2 layers quantized', 'float16, 2/2 layers in float16', 'float32')."""
    from converter.graphs.precision import precision_mix

    return precision_mix(loaded.model, loaded.weights_dir).line()


def _interface(artifact: Path, fmt: str, converted: Any, feeds: tuple[dict[str, np.ndarray], ...]) -> Interface:
    """The artifact's own interface; for torch artifacts, which keep no names, from the samples it ran on."""
    if fmt == "onnx":
        return load_served(artifact, "model").interface
    if fmt == "savedmodel":  # in the model's order and names, not the signature's alphabetical one
        found = load_served(artifact, "model").interface
        inputs = {s.name: s for s in found.inputs}  # apart: an output may be named like an input
        by_name = {s.name: s for s in found.outputs}
        renames = converted.artifact.get("outputs") if isinstance(converted.artifact.get("outputs"), dict) else {}
        outputs = [renames.get(o.name, o.name) for o in converted.report.devices[0].outputs] if converted.report else []
        ordered = Interface(tuple(inputs[n] for n in feeds[0] if n in inputs) if feeds else found.inputs,
                            tuple(by_name[n] for n in outputs if n in by_name) or found.outputs)
        if {s.name for s in ordered.inputs} != {s.name for s in found.inputs} or \
                {s.name for s in ordered.outputs} != {s.name for s in found.outputs}:
            ordered = found
        (artifact / "assets.extra").mkdir(exist_ok=True)
        ordered.write(artifact / "assets.extra" / INTERFACE_FILE)
        return ordered
    if not feeds:
        raise GraphtoolError("packaging a torch artifact needs the validation samples; drop --no-validate")
    names = list(feeds[0])
    inputs = from_arrays(names, [[f[n] for n in names] for f in feeds])
    served = load_served(artifact, "model", interface=Interface(inputs, ()))
    results = [served.runner(f) for f in feeds]
    output_names = [o.name for o in converted.report.devices[0].outputs]
    if len(output_names) != len(results[0]):
        output_names = [f"output_{i}" for i in range(len(results[0]))]
    interface = Interface(inputs, from_arrays(output_names, results))
    interface.write(artifact.parent / INTERFACE_FILE)
    return interface


def check_outputs(served: Any, context: PackageContext) -> dict:
    """Run the loaded-back artifact on the samples: every output present, with dims the interface allows."""
    problems = []
    for index, feeds in enumerate(context.samples[:3]):
        try:
            results = served.predict(feeds)
        except GraphtoolError as error:
            problems.append(f"sample {index}: {error}")
            continue
        for spec in served.interface.outputs:
            value = results.get(spec.name)
            if value is None or not spec.accepts(value.shape) or not np.all(np.isfinite(value)):
                problems.append(f"sample {index}: output '{spec.name}' is missing, misshapen or not finite")
    return {"passed": not problems, "runtime": served.runtime, "samples": min(3, len(context.samples)),
            "problems": problems}
