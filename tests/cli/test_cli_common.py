"""The CLI's shared loading options: made from LoadOptions' flagged fields, one for one, on every loading command."""

from __future__ import annotations

from dataclasses import fields

import typer.main

from converter.cli import app
from converter.core.errors import GraphtoolError
from converter.core.types import LoadOptions, load_option_specs

LOADING_COMMANDS = ("convert", "inspect", "validate", "diff", "render", "view", "package", "audit")


def test_every_loading_command_has_exactly_the_flagged_fields_of_load_options():
    assert {f.name for f in fields(LoadOptions) if "flag" not in f.metadata} == {"value_shapes"}  # API only
    specs = load_option_specs()
    commands = typer.main.get_command(app).commands
    for name in LOADING_COMMANDS:
        options = {p.name: p for p in commands[name].params if p.name in {f.name for f in fields(LoadOptions)}}
        assert list(options) == [spec.field for spec in specs], name
        for spec in specs:
            option = options[spec.field]
            assert (option.opts, option.help, option.multiple) == ([spec.flag], spec.help, spec.repeated), name
            assert option.default == (None if spec.repeated else spec.default), name


def test_the_flags_reach_load_options(cli, tmp_path, monkeypatch):
    from converter import api

    seen = []

    def inspect(model, options):
        seen.append(options)
        raise GraphtoolError("seen")

    monkeypatch.setattr(api, "inspect", inspect)
    cli("inspect", "m.pt", "--input", "x:1,2", "--input", "y:3", "--inputs", tmp_path / "d.npz", "--from", "pt2",
        "--trace", "fx", "--opset", "17", "--model-class", "m.py:M", "--trust-pickle", "--timeout", "9")
    assert seen == [LoadOptions(("x:1,2", "y:3"), tmp_path / "d.npz", "pt2", "fx", 17, model_class="m.py:M",
                                trust_pickle=True, timeout=9.0)]
    cli("inspect", "m.pt")
    assert seen[-1] == LoadOptions()
    result = cli("inspect", "m.pt", "--timeout", "0.05")  # below the field's least value, 0.1
    assert result.exit_code == 2 and len(seen) == 2
