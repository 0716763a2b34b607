"""read_config: JSON or YAML by the suffix, JSON then YAML without one; every problem one line naming the file."""

from __future__ import annotations

import sys

import pytest

from converter.core.config import read_config
from converter.core.errors import GraphtoolError

pytest.importorskip("yaml", reason="PyYAML (the batch extra) reads the YAML cases")


@pytest.mark.parametrize(("name", "text"), [
    ("c.json", '{"a": {"rtol": 0.01}, "b": [1, 2]}'),
    ("c.yaml", "a: {rtol: 0.01}\nb: [1, 2]\n"),
    ("c.YML", "a:\n  rtol: 0.01\nb:\n  - 1\n  - 2\n"),
    ("c.conf", '{"a": {"rtol": 0.01}, "b": [1, 2]}'),  # no known suffix: JSON first
    ("c", "a: {rtol: 0.01}\nb: [1, 2]\n"),  # then YAML
])
def test_json_and_yaml_read_the_same(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    assert read_config(tmp_path / name) == {"a": {"rtol": 0.01}, "b": [1, 2]}


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("bad.json", "{", "not valid JSON (Expecting property name"),
    ("bad.json", "a: 1\n", "not valid JSON"),  # a .json file is never read as YAML
    ("bad.yaml", "a: [1\n", "not valid YAML (while parsing a flow sequence"),
    ("bad.txt", "a: [1\n", "neither valid JSON nor valid YAML"),
    ("missing.json", None, "cannot read it (No such file or directory)"),
])
def test_a_problem_is_one_line_naming_the_file(tmp_path, name, text, expected):
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(GraphtoolError) as caught:
        read_config(tmp_path / name)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / name}: ") and expected in message and "\n" not in message


def test_the_label_replaces_the_path(tmp_path):
    with pytest.raises(GraphtoolError, match=r"^--tolerance t\.json: cannot read it"):
        read_config(tmp_path / "t.json", "--tolerance t.json")


def test_yaml_without_pyyaml_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "m.yaml").write_text("a: 1\n")
    (tmp_path / "m.json").write_text('{"a": 1}')
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml raises ImportError
    with pytest.raises(GraphtoolError, match=r"m\.yaml: YAML needs PyYAML: pip install 'graphtool\[batch\]'"):
        read_config(tmp_path / "m.yaml")
    assert read_config(tmp_path / "m.json") == {"a": 1}
