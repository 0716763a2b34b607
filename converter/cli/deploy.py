"""Commands that ship a model: package (a server's layout) and serve (a local TF Serving / v2 endpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from converter.cli import common, validate
from converter.cli.common import JsonOpt
from converter.core.types import LoadOptions

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add package and serve to the app."""
    app.command()(package)
    app.command()(serve)


@common.handle_errors
@common.with_load_options
@validate.with_judging_options
def package(
    model: Annotated[str, typer.Argument(help="A model file, SavedModel directory, or file.py:NAME reference.")],
    server: Annotated[str, typer.Option("--for", help="tf-serving, torchserve, triton or kserve.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The model repository (folder) to write into.")],
    name: Annotated[str | None, typer.Option("--name", help="Model name; default: MODEL's file name.")] = None,
    version: Annotated[int | None, typer.Option("--version", help="Version; default: the next one.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="TF Serving: point this label at the version.")] = None,
    format: Annotated[str | None, typer.Option("--format", help="Artifact format; default: the server's own.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing version or archive.")] = False,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Input samples to validate with.")] = 3,
    options: LoadOptions | None = None,  # from the shared loading options (common.with_load_options)
    tolerances: Any = None,  # from the judging options (validate.with_judging_options)
    json: JsonOpt = False,
) -> None:
    """Convert MODEL, check it, and lay it out the way SERVER loads it (then load it back that way)."""
    from converter import api

    result = api.package(model, server, output, options, name=name, version=version, label=label, format=format,
                         force=force, samples=samples, tolerances=tolerances)
    if json:
        common.print_json(result.to_dict())
    else:
        _print_package(result)
    raise typer.Exit(0 if result else 1)


def _print_package(result) -> None:
    from converter.cli.validate import print_report

    if result.convert.report is not None and (common.settings.verbose or not result.convert):
        print_report(result.convert.report)
    if not result.convert:
        verdict = result.convert.report.verdict if result.convert.report is not None else "failed"
        word = {"inconclusive": "INCONCLUSIVE", "failed-to-run": "FAILED TO RUN"}.get(verdict, "FAILED")
        common.out.print(f"[red]{word}[/red]: the conversion did not validate; nothing was packaged")
        return
    details = result.to_dict()
    version = f" version {result.version}" if result.version else ""
    common.out.print(escape(f"{result.server}: {result.name}{version} ({result.format}) -> {details.get('path')}"))
    for key in ("config", "manifest", "labels", "versions", "warmup_records", "precision"):
        if details.get(key) not in (None, {}, []):
            common.out.print(escape(f"  {key}: {details[key]}"))
    check = details.get("check", {})
    problems = [*check.get("problems", []), *(check.get("config") or []), *(check.get("manifest") or [])]
    for problem in problems:
        common.out.print(f"  [red]problem[/red] {escape(problem)}")
    verdict = "[green]PASSED[/green]" if result else "[red]FAILED[/red]"
    common.out.print(f"{verdict}: loaded back with {escape(str(check.get('runtime')))}")


@common.handle_errors
def serve(
    model: Annotated[str, typer.Argument(help="A .onnx/.pt2/SavedModel artifact or a folder `package` wrote.")],
    host: Annotated[str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes it to the network.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")] = 8501,
    name: Annotated[str | None, typer.Option("--name", help="Model name for a single artifact.")] = None,
    max_body: Annotated[int, typer.Option("--max-body-mb", min=1, help="Largest request body, in MiB.")] = 64,
    trust_code: Annotated[bool, typer.Option("--trust-code", help="Serve artifacts whose graphs do more than compute "
                                             "(file I/O, ...); the audit refuses them otherwise.")] = False,
) -> None:
    """Serve MODEL over TF Serving's REST API and the Open Inference Protocol v2 until SIGTERM or Ctrl-C."""
    from converter import api

    api.serve(model, host=host, port=port, name=name, max_body=max_body * 2**20, trust_code=trust_code,
              announce=lambda line: common.err.print(line, markup=False))
