"""Write an ONNX model as a torch.export ExportedProgram (.pt2), symbolic ONNX dims as dynamic dims."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnx

from converter.core.atomic import atomic_path
from converter.core.errors import GraphtoolError
from converter.core.timing import stage
from converter.targets.torch import to_graph_module

__all__ = ["Pt2Result", "write_pt2"]


@dataclass(frozen=True)
class Pt2Result:
    """Where the program went, which dims stayed dynamic, and why stricter strategies were dropped."""

    path: str
    strategy: str
    dynamic_dims: dict[str, list[int]]
    size_bytes: int
    fallbacks: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # for the terminal: dynamic ONNX dims the program fixed, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_pt2(
    model: onnx.ModelProto,
    path: str | os.PathLike[str],
    *,
    example_inputs: Sequence[Any] | None = None,
    force: bool = False,
) -> Pt2Result:
    """Convert `model`, export and save it atomically; torch.export.load(path).module() returns {name: tensor}."""
    with stage("import"):
        import torch

    from converter.targets.torch import examples
    from converter.targets.torch.runtime.control import LoopExportError

    with stage("build"):
        module = to_graph_module(model, named_outputs=True).eval()
    inputs = tuple(example_inputs) if example_inputs is not None else tuple(examples.example_inputs(model))
    symbolic = examples.symbolic_dims(model)
    fallbacks: list[str] = []
    failures: list[Exception] = []  # torch.export's own exceptions, for --debug
    program, strategy = None, ""
    with stage("export"):
        for strategy, shapes in _strategies(symbolic):
            try:
                program = torch.export.export(module, inputs, dynamic_shapes=shapes, strict=False)
                break
            except Exception as exc:  # noqa: BLE001 - each strategy's failure is reported in the result
                fallbacks.append(f"{strategy}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                failures.append(exc)
    if program is None:
        loop = next((exc for exc in failures if isinstance(exc, LoopExportError)), None)
        if loop is not None:  # the same Loop stops every strategy; its own line says which node and why
            raise GraphtoolError(f"torch.export could not capture the converted module: {_first_line(loop)}; "
                                 "convert to onnx, savedmodel or torchscript instead, which keep the loop") from loop
        hint = ""
        if any("DataDependent" in f for f in fallbacks):  # Shape -> ... -> Reshape chains (tf2onnx's einsum)
            hint = ("; the graph computes a shape from a tensor at run time (Shape -> ... -> Reshape) with an op "
                    "the converter cannot keep as sizes; convert to onnx or savedmodel instead")
        raise GraphtoolError(
            f"torch.export could not capture the converted module: {'; '.join(fallbacks)}{hint}"
        ) from failures[0]
    target = Path(path)
    with stage("save"), atomic_path(target, force) as temporary, open(temporary, "wb") as stream:
        torch.export.save(program, stream)
    names = [i.name for i in examples.graph_inputs(model)]
    dynamic = _dynamic_dims(program, names)
    return Pt2Result(str(target), strategy, dynamic, target.stat().st_size, tuple(fallbacks),
                     _fixed_notes(symbolic, names, dynamic, fallbacks))


def _fixed_notes(symbolic: list[dict[int, str]], names: list[str], dynamic: dict[str, list[int]],
                 fallbacks: list[str]) -> tuple[str, ...]:
    """A note naming the ONNX's dynamic dims the program fixed, with torch.export's first reason."""
    fixed = [f"{name} dim {axis} ({dim})" for name, dims in zip(names, symbolic, strict=False)
             for axis, dim in dims.items() if axis not in dynamic.get(name, [])]
    if not fixed:
        return ()
    why = f": {fallbacks[0]}" if fallbacks else ""
    return (f"pt2: torch.export fixed the dynamic {', '.join(fixed)} at the example's size, so the program takes "
            f"no other{why}",)


def _dynamic_dims(program: Any, names: list[str]) -> dict[str, list[int]]:
    """Input name -> the dims the exported program left symbolic (export may specialize some)."""
    user_inputs = set(program.graph_signature.user_inputs)
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in user_inputs]
    dynamic = {}
    for name, node in zip(names, placeholders, strict=False):
        value = node.meta.get("val")
        dims = [i for i, d in enumerate(getattr(value, "shape", ())) if not _pinned(program, d)]
        if dims:
            dynamic[name] = dims
    return dynamic


def _strategies(symbolic: list[dict[int, str]]):
    """(name, dynamic_shapes) to try in order: named ONNX dims, automatic dims, then fully static."""
    import torch

    if any(symbolic):
        dims: dict[str, Any] = {}
        named = tuple(
            {i: dims.setdefault(name, torch.export.Dim(_identifier(name), min=1)) for i, name in d.items()} or None
            for d in symbolic
        )
        yield "dynamic", named
        yield "auto", tuple({i: torch.export.Dim.AUTO for i in d} or None for d in symbolic)
    yield "static", None


def _identifier(name: str) -> str:
    from converter.targets.torch.names import sanitize

    return sanitize(name, "dim")


def _pinned(program: Any, dim: Any) -> bool:
    """Whether a dim is a fixed size: an int, or a symbol whose range export narrowed to one value."""
    if isinstance(dim, int):
        return True
    bounds = program.range_constraints.get(dim.node.expr)
    return bounds is None or bounds.lower == bounds.upper


def _first_line(exc: Exception) -> str:
    """The message torch.export's exception began with (it appends the FX node and a traceback)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
