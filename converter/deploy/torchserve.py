"""TorchServe's layout: NAME.mar in a model store, built with torch-model-archiver, and config.properties."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from converter.core.atomic import atomic_path, move_into_place
from converter.core.errors import GraphtoolError, first_line
from converter.deploy.package import Layout, PackageContext

__all__ = ["LAYOUT", "config_properties", "load_archive", "HANDLER"]

HANDLER = Path(__file__).with_name("torchserve_handler.py")
_ARCHIVER = "from model_archiver.model_packaging import generate_model_archive; generate_model_archive()"


def config_properties(store: Path, inference: int = 8080, management: int = 8081, metrics: int = 8082,
                      grpc: tuple[int, int] = (7070, 7071)) -> str:
    """Every address on 127.0.0.1: inference, management, metrics and both gRPC ports."""
    return "\n".join([
        f"inference_address=http://127.0.0.1:{inference}",
        f"management_address=http://127.0.0.1:{management}",
        f"metrics_address=http://127.0.0.1:{metrics}",
        "grpc_inference_address=127.0.0.1",
        "grpc_management_address=127.0.0.1",
        f"grpc_inference_port={grpc[0]}",
        f"grpc_management_port={grpc[1]}",
        f"model_store={store.resolve()}",
        "load_models=all",
        "disable_token_authorization=true",
        "enable_model_api=true",
        "default_workers_per_model=1",
        "",
    ])


def _plan(output: Path, name: str, version: int | None, force: bool) -> int:
    mar = output / f"{name}.mar"
    if mar.exists() and not force:
        raise GraphtoolError(f"{mar}: already exists; pass --force to overwrite it")
    return version or 1


def _model_config(context: PackageContext) -> str:
    batch = 8 if context.interface.batched() else 1
    return (f"minWorkers: 1\nmaxWorkers: 1\nbatchSize: 1\nmaxBatchDelay: 100\nresponseTimeout: 120\n"
            f"# the handler answers one request at a time; up to {batch} rows fit in one request\n"
            + ("" if context.precision == "float32" else f"# precision: {context.precision}\n"))


def _write(context: PackageContext) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f".{context.name}.mar-", dir=context.output))
    try:
        model = folder / ("model.pt2" if context.format == "pt2" else "model.ts")
        shutil.copy2(context.artifact, model)
        context.interface.write(folder / "interface.json")
        (folder / "model-config.yaml").write_text(_model_config(context))
        handler = folder / "handler.py"
        shutil.copy2(HANDLER, handler)
        export = folder / "export"
        export.mkdir()
        command = [sys.executable, "-c", _ARCHIVER, "--model-name", context.name, "--version", str(context.version),
                   "--serialized-file", str(model), "--handler", str(handler), "--extra-files",
                   str(folder / "interface.json"), "--config-file", str(folder / "model-config.yaml"),
                   "--export-path", str(export), "--force"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise GraphtoolError(f"torch-model-archiver failed: {first_line(RuntimeError(done.stderr or done.stdout))}"
                                 "; install it with pip install 'graphtool[serve]'")
        built = export / f"{context.name}.mar"
        check = check_archive(built, context)
        mar = context.output / f"{context.name}.mar"
        move_into_place(built, mar, context.force)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    properties = context.output / "config.properties"
    if not properties.exists():  # shared by every model of the store
        with atomic_path(properties) as temporary:
            temporary.write_text(config_properties(context.output))
    return {"path": str(mar), "config": str(properties), "check": check}


def load_archive(mar: Path, into: Path):
    """Unpack a .mar and run its handler's initialize as TorchServe's worker does; returns (handle, context)."""
    import importlib.util

    from ts.context import Context

    with zipfile.ZipFile(mar) as archive:
        archive.extractall(into)
    spec = importlib.util.spec_from_file_location(f"graphtool_handler_{into.name}", into / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = Context(mar.stem, str(into), {"model": {"modelName": mar.stem}}, 1, None, "0.12")
    module.handle(None, context)
    return module.handle, context


def check_archive(mar: Path, context: PackageContext) -> dict:
    """The archive's handler on the samples in the JSON body TorchServe passes it; outputs must be finite."""
    import json

    import numpy as np

    problems = []
    with tempfile.TemporaryDirectory(prefix=".mar-check-", dir=context.output) as folder:
        handle, ts_context = load_archive(mar, Path(folder))
        names = zipfile.ZipFile(mar).namelist()
        for required in ("MAR-INF/MANIFEST.json", "model-config.yaml", "interface.json", "handler.py"):
            if required not in names:
                problems.append(f"{required} is missing from the archive")
        for index, feeds in enumerate(context.samples[:3]):
            body = json.dumps({"inputs": {k: np.asarray(v).tolist() for k, v in feeds.items()}}).encode()
            answer = handle([{"body": body}], ts_context)[0]
            outputs = answer.get("outputs", {}) if isinstance(answer, dict) else {}
            for spec in context.interface.outputs:
                value = np.asarray(outputs.get(spec.name, np.nan), dtype=np.float64)
                if not spec.accepts(value.shape) or not np.all(np.isfinite(value)):
                    problems.append(f"sample {index}: output '{spec.name}' is missing, misshapen or not finite")
    return {"passed": not problems, "runtime": "torchserve handler", "problems": problems}


LAYOUT = Layout("torchserve", ("pt2", "torchscript"), _plan, _write)
