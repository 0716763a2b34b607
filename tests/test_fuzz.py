"""Fuzz: mutated copies of every fixture format end with exit 0 or 2, quickly, with no traceback or leftovers.

GRAPHTOOL_FUZZ_EXAMPLES sets the mutations per format and command (default 100, so a few hundred cases
per format in all); hypothesis derandomizes them, so CI runs the same cases every time.
"""

from __future__ import annotations

import io
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from conftest import FUZZ_COUNTS, TF_DIR, TORCH_DIR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("GRAPHTOOL_FUZZ_EXAMPLES", "100"))
SECONDS_PER_CASE = 60

# format -> (fixture, extra arguments every command needs)
FORMATS = {
    "onnx": ("mlp.onnx", ()),
    "torchscript": (TORCH_DIR / "mlp.ts", ("--input", "x:batch,16")),
    "exported-program": (TORCH_DIR / "mlp.pt2", ()),
    "state-dict": (TORCH_DIR / "mlp_state_dict.pth", ()),
    "pickle": (TORCH_DIR / "mlp_module.pt", ("--input", "x:batch,16")),
    "keras": (TF_DIR / "keras_two_io.keras", ()),
    "h5": (TF_DIR / "keras_two_io.h5", ()),
    "savedmodel": (TF_DIR / "cond_savedmodel", ()),
}
SUFFIXES = (".onnx", ".pt", ".pt2", ".pth", ".ts", ".keras", ".h5", ".bin", "")


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    from converter import api

    folder = tmp_path_factory.mktemp("fuzz-originals")
    onnx_path = folder / "mlp.onnx"
    import onnx

    onnx.save(api.load(str(TORCH_DIR / "mlp.pt2")).model, onnx_path)
    return {name: (onnx_path if name == "onnx" else Path(path), args) for name, (path, args) in FORMATS.items()}


mutations = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("zero-header"), st.integers(1, 512)),
    st.tuples(st.just("drop-member"), st.integers(0, 10_000)),
    st.tuples(st.just("suffix"), st.sampled_from(SUFFIXES)),
)


def _mutate(data: bytes, mutation) -> tuple[bytes, str | None]:
    kind, value = mutation
    if kind == "truncate":
        return data[: int(len(data) * value)], None
    if kind == "flip":
        buffer = bytearray(data)
        for where, mask in value:
            if buffer:
                buffer[min(int(where * len(buffer)), len(buffer) - 1)] ^= mask
        return bytes(buffer), None
    if kind == "zero-header":
        return bytes(value) + data[value:], None
    if kind == "drop-member":
        return _drop_member(data, value), None
    return data, value


def _drop_member(data: bytes, index: int) -> bytes:
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return data[: len(data) // 2]
    members = source.infolist()
    dropped = members[index % len(members)].filename if members else None
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for member in members:
            if member.filename != dropped:
                target.writestr(member, source.read(member.filename))
    return out.getvalue()


def _materialize(original: Path, mutation, folder: Path) -> Path:
    """The mutated copy: a file, or for a SavedModel a folder with its saved_model.pb mutated."""
    if original.is_dir():
        target = folder / "model"
        shutil.copytree(original, target)
        pb = target / "saved_model.pb"
        data, _ = _mutate(pb.read_bytes(), mutation)
        pb.write_bytes(data)
        return target
    data, suffix = _mutate(original.read_bytes(), mutation)
    path = folder / ("model" + (original.suffix if suffix is None else suffix))
    path.write_bytes(data)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("command", ["inspect", "convert"])
@pytest.mark.parametrize("name", list(FORMATS))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=mutations)
def test_mutated_models_fail_cleanly(cli, originals, tmp_path_factory, name, command, mutation):
    original, args = originals[name]
    folder = tmp_path_factory.mktemp("case")
    model = _materialize(original, mutation, folder)
    before = sorted(p.name for p in folder.rglob("*"))
    extra = ("-o", folder / "out.onnx", "--no-validate") if command == "convert" else ()
    start = time.perf_counter()
    result = cli(command, model, *args, *extra)
    elapsed = time.perf_counter() - start
    FUZZ_COUNTS[name] = FUZZ_COUNTS.get(name, 0) + 1
    assert result.exit_code in (0, 2), (mutation, result.output)
    assert "Traceback" not in result.output, (mutation, result.output)
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, (mutation, result.stderr)
    after = sorted(p.name for p in folder.rglob("*"))
    produced = {"out.onnx"} if command == "convert" and result.exit_code == 0 else set()
    assert set(after) - set(before) == produced, (mutation, after)
    assert elapsed < SECONDS_PER_CASE, (mutation, elapsed)
    shutil.rmtree(folder, ignore_errors=True)


# Hostile models from tests/audit_models.py: every mutated copy is still refused or fails cleanly, and none
# of them gets to write its file or read the secret into an output.
HOSTILE = ("tf-write", "tf-read", "ts-read", "onnx-custom")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["inspect", "convert"])
@pytest.mark.parametrize("name", HOSTILE)
@settings(max_examples=max(EXAMPLES // 5, 5), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=mutations)
def test_mutated_hostile_models_never_run(cli, audit_models, tmp_path_factory, name, command, mutation):
    from audit_models import SECRET

    built = audit_models[name]
    folder = tmp_path_factory.mktemp("hostile")
    model = _materialize(built.path, mutation, folder)
    extra = ("-o", folder / "out.onnx", "--no-validate") if command == "convert" else ()
    result = cli(command, model, *built.args, *extra)
    FUZZ_COUNTS[f"hostile {name}"] = FUZZ_COUNTS.get(f"hostile {name}", 0) + 1
    assert result.exit_code == 2, (mutation, result.output)  # refused by the audit, or unreadable
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1, (mutation, result.output)
    assert not (folder / "out.onnx").exists(), mutation
    assert built.written is None or not built.written.exists(), mutation
    assert SECRET.decode() not in result.output, mutation
    shutil.rmtree(folder, ignore_errors=True)
