"""TF Serving's layout: NAME/N/ SavedModel with warmup requests, and models.config, read back with its protos."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from converter.core.atomic import atomic_path
from converter.core.errors import GraphtoolError, first_line
from converter.deploy.package import Layout, PackageContext, check_outputs
from converter.deploy.served import load_served

__all__ = ["LAYOUT", "read_config", "versions_in", "write_warmup", "read_warmup", "WARMUP", "CONFIG"]

WARMUP = Path("assets.extra") / "tf_serving_warmup_requests"
CONFIG = "models.config"
MAX_WARMUP = 1000  # TF Serving reads at most this many warmup records


def versions_in(folder: Path) -> list[int]:
    """The integer version folders TF Serving (and Triton) would see, ascending."""
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and p.name[0] != "0")


def plan_version(output: Path, name: str, version: int | None, force: bool) -> int:
    """The next version after the kept ones, or the one asked for, never overwritten without --force."""
    existing = versions_in(output / name)
    if version is not None and version < 1:
        raise GraphtoolError(f"--version {version}: versions are integers from 1")
    chosen = version if version is not None else (existing[-1] + 1 if existing else 1)
    if chosen in existing and not force:
        raise GraphtoolError(f"{output / name / str(chosen)}: version {chosen} already exists; pass --force to "
                             "overwrite it, or leave out --version to add the next one")
    return chosen


def _plan(output: Path, name: str, version: int | None, force: bool) -> int:
    if (output / CONFIG).exists():
        read_config(output / CONFIG)  # a corrupt models.config is refused before converting
    return plan_version(output, name, version, force)


def _write(context: PackageContext) -> dict:
    base = context.output / context.name
    base.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{context.version}.", dir=base))
    try:
        shutil.rmtree(staged)
        shutil.copytree(context.artifact, staged)
        records = write_warmup(staged / WARMUP, context.name, context.samples)
        served = load_served(staged, context.name, context.version)  # as TF Serving does: serving_default
        check = check_outputs(served, context)
        check["warmup_replayed"] = replay_warmup(staged / WARMUP, served)
        final = base / str(context.version)
        if final.exists():  # only with --force: plan_version refused otherwise
            shutil.rmtree(final)
        os.replace(staged, final)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    labels = _write_config(context)
    return {"path": str(final), "versions": versions_in(base), "labels": labels, "warmup_records": records,
            "config": str(context.output / CONFIG), "check": check}


def write_warmup(path: Path, name: str, samples) -> int:
    """A TFRecord of PredictionLog records, one per validation sample (at most 1000)."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path.parent.mkdir(parents=True, exist_ok=True)
    chosen = list(samples)[:MAX_WARMUP]
    with tf.io.TFRecordWriter(str(path)) as writer:
        for feeds in chosen:
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name,
                                                                                 signature_name="serving_default"))
            for key, value in feeds.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return len(chosen)


def read_warmup(path: Path) -> list[dict[str, np.ndarray]]:
    """The inputs of every warmup record, parsed with tensorflow-serving-api's protos."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for record in _records(path.read_bytes()):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        requests.append({k: tf.make_ndarray(v) for k, v in log.predict_log.request.inputs.items()})
    return requests


def _records(data: bytes):
    """A TFRecord file's records (length, its CRC, data, its CRC), read without tf.data's log lines."""
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        offset += 12
        if offset + length + 4 > len(data):
            raise GraphtoolError("the warmup file is truncated; package the model again")
        yield data[offset:offset + length]
        offset += length + 4


def replay_warmup(path: Path, served) -> int:
    """Run every warmup request, as TF Serving does when it loads a version; a failing one is an error."""
    if not path.exists():
        return 0
    requests = read_warmup(path)
    for index, feeds in enumerate(requests):
        try:
            served.predict(feeds)
        except GraphtoolError as error:
            raise GraphtoolError(f"{path}: warmup request {index} fails: {error}") from error
    return len(requests)


def read_config(path: Path):
    """models.config parsed with TF Serving's ModelServerConfig proto; a one-line error when it does not parse."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(path.read_text(), config)
    except (text_format.ParseError, UnicodeDecodeError) as error:
        raise GraphtoolError(
            f"{path}: not a TF Serving model config ({first_line(error)}); fix or remove it"
        ) from error
    return config


def _write_config(context: PackageContext) -> dict[str, int]:
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    path = context.output / CONFIG
    config = read_config(path) if path.exists() else model_server_config_pb2.ModelServerConfig()
    entries = config.model_config_list.config
    entry = next((c for c in entries if c.name == context.name), None) or entries.add(name=context.name)
    entry.base_path = str((context.output / context.name).resolve())
    entry.model_platform = "tensorflow"
    kept = versions_in(context.output / context.name)
    entry.model_version_policy.specific.ClearField("versions")
    entry.model_version_policy.specific.versions.extend(kept)  # every kept version is served
    labels = {k: v for k, v in entry.version_labels.items() if v in kept}
    if context.label:
        labels[context.label] = context.version
    entry.ClearField("version_labels")
    entry.version_labels.update(labels)
    with atomic_path(path, force=True) as temporary:
        temporary.write_text(text_format.MessageToString(config))
    parsed = read_config(path)  # read back as TF Serving would
    entry = next(c for c in parsed.model_config_list.config if c.name == context.name)
    missing = [v for v in entry.model_version_policy.specific.versions
               if not (Path(entry.base_path) / str(v) / "saved_model.pb").exists()]
    if missing:
        raise GraphtoolError(f"{path}: versions {missing} of {context.name} have no saved_model.pb")
    return dict(entry.version_labels)


LAYOUT = Layout("tf-serving", ("savedmodel",), _plan, _write)
