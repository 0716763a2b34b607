"""The graph audit: hostile SavedModels, TorchScript, ExportedPrograms and ONNX are refused before anything runs."""

from __future__ import annotations

import json

import pytest
from audit_models import SECRET

from converter import api
from converter.sources.audit import UntrustedCodeError

pytestmark = pytest.mark.slow

HOSTILE = ("tf-write", "tf-read", "tf-print-file", "tf-list", "tf-random", "tf-save", "ts-read", "ep-custom",
           "onnx-custom")
BENIGN = ("tf-print-stderr", "ts-print", "onnx-contrib")
COMMANDS = {
    "inspect": lambda model, out: ("inspect", model),
    "inspect --json": lambda model, out: ("inspect", model, "--json"),
    "convert onnx": lambda model, out: ("convert", model, "--to", "onnx", "-o", out / "m.onnx"),
    "convert pt2": lambda model, out: ("convert", model, "--to", "pt2", "-o", out / "m.pt2"),
    "validate": lambda model, out: ("validate", model, "--report", out / "report.json"),
    "diff": lambda model, out: ("diff", model, model),
    "render": lambda model, out: ("render", model, "-o", out / "m.dot"),
    "serve": lambda model, out: ("serve", model, "--port", "0"),  # refused before it binds, so it returns
}


def _files_under(folder):
    return sorted(p.name for p in folder.rglob("*"))


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_models_are_refused_by_every_command(cli, audit_models, tmp_path, name, command):
    built = audit_models[name]
    before = _files_under(built.path.parent)
    loading = () if command == "serve" else built.args  # serve reads shapes from the artifact itself
    result = cli(*COMMANDS[command](built.path, tmp_path), *loading)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in result.output, result.output
    assert built.op in line and "--trust-code" in line and "Nothing was run" in line, line
    assert _files_under(tmp_path) == [], "a refused command wrote an output"
    assert _files_under(built.path.parent) == before, "the model touched the file system"
    assert built.written is None or not built.written.exists()
    assert SECRET.decode() not in result.output
    if command == "inspect":  # inspect shows the findings it found without running anything
        assert f"refused: {built.op}" in result.stdout
    if command == "inspect --json":
        findings = json.loads(result.stdout)["audit"]["findings"]
        assert [f["op"] for f in findings] == [built.op]


@pytest.mark.parametrize("name", HOSTILE + BENIGN)
def test_audit_command_names_each_op_and_where(cli, audit_models, name):
    built = audit_models[name]
    result = cli("audit", built.path, "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == (1 if name in HOSTILE else 0), result.output
    assert report["clean"] is (name in BENIGN)
    if name in HOSTILE:
        (finding,) = report["findings"]
        assert finding["op"] == built.op and finding["function"] and finding["node"]
    assert report["nodes"] == sum(report["op_counts"].values()) > 0


def test_trust_code_runs_the_write_and_the_report_names_what_onnx_drops(cli, audit_models, tmp_path):
    built = audit_models["tf-write"]
    result = cli("convert", built.path, "--to", "onnx", "-o", tmp_path / "m.onnx", "--trust-code", "--json")
    assert result.exit_code == 0, result.output
    assert built.written.exists(), "with --trust-code the source graph runs, write included"
    notes = json.loads(result.stdout)["source"]["notes"]
    assert any("WriteFile" in note and "drop" in note for note in notes), notes
    built.written.unlink()


def test_trust_code_lets_a_torchscript_read_through_and_says_it_is_baked_in(cli, audit_models, tmp_path):
    built = audit_models["ts-read"]
    result = cli("convert", built.path, *built.args, "--to", "onnx", "-o", tmp_path / "m.onnx", "--trust-code",
                 "--no-validate", "--json")
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["source"]["notes"]
    assert any("aten::from_file" in note and "constant" in note for note in notes), notes


@pytest.mark.parametrize("name", ["tf-print-stderr", "ts-print"])
def test_console_prints_convert_without_the_flag_and_are_named_as_dropped(cli, audit_models, tmp_path, name):
    built = audit_models[name]
    result = cli("convert", built.path, *built.args, "--to", "onnx", "-o", tmp_path / "m.onnx", "--json")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.onnx").exists()
    notes = json.loads(result.stdout)["source"]["notes"]
    assert any(built.op in note and "drop" in note for note in notes), notes


def test_onnx_contrib_ops_load_and_custom_domains_need_trust(audit_models):
    assert api.load(str(audit_models["onnx-contrib"].path)).source.notes == ()
    custom = str(audit_models["onnx-custom"].path)
    with pytest.raises(UntrustedCodeError, match="evil.ops::Exfiltrate"):
        api.load(custom)
    notes = api.load(custom, trust_code=True).source.notes
    assert len(notes) == 1 and "onnxruntime" in notes[0]


@pytest.mark.parametrize("fixture", ["cond_savedmodel", "keras_cnn_savedmodel", "keras_lstm_savedmodel"])
def test_shipped_savedmodels_audit_clean_with_their_checkpoint_functions(fixture):
    from conftest import TF_DIR

    audit = api.audit(str(TF_DIR / fixture))
    assert bool(audit) and audit.functions > 1
    assert audit.op_counts.get("SaveV2", 0) >= 1  # the saver's own function, allowed only there


def test_torchscript_setstate_is_refused_before_torch_loads_it(tmp_path):
    import zipfile

    from converter.sources.audit.torch import audit_archive_code

    path = tmp_path / "m.ts"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("m/code/__torch__/m.py", "class M(Module):\n  def __setstate__(self, state):\n    pass\n")
    (finding,) = audit_archive_code(str(path)).findings
    assert finding.op == "__setstate__" and finding.function == "m/code/__torch__/m.py"


def test_converter_exports_the_audit_verb():
    import converter

    assert converter.audit is api.audit
