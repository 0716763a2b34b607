"""The package-level Python API and its optional-dependency errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, TORCH_DIR

import converter
from converter.core.errors import MissingExtraError
from converter.core.frameworks import require


@pytest.mark.slow
def test_load_with_option_fields():
    loaded = converter.load(str(TORCH_DIR / "mlp.ts"), input_specs=["x:batch,16"])
    assert loaded.source.strategy == "torchscript"
    assert [d.dim_param for d in loaded.model.graph.input[0].type.tensor_type.shape.dim][:1] == ["batch"]


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        converter.no_such_function  # noqa: B018


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "definitely_not_installed_pkg", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'graphtool\[torch\]'"):
        require("definitely_not_installed_pkg", "torch")


def test_missing_framework_is_one_line_from_the_cli():
    # Blocking the import as a missing install would: the command says which extra to add.
    probe = (
        "import sys; sys.modules['torch'] = None\n"
        "from converter.cli import main\n"
        f"sys.argv = ['graphtool', 'inspect', {str(TORCH_DIR / 'mlp.pt2')!r}]\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "graphtool: error: this needs the 'torch' package, which is not installed: pip install 'graphtool[torch]'"
    )


def test_import_converter_is_light():
    probe = "import sys, converter; print(sorted(m for m in ('onnx', 'numpy', 'torch') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "[]"


def test_validation_and_conversion_do_not_import_the_api():
    probe = ("import sys, converter.validation, converter.pipelines.convert, converter.core.runners, "
             "converter.deploy.package, converter.deploy.endpoint, converter.deploy.repository; "
             "print([m for m in ('converter.api', 'torch', 'tensorflow') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_endpoint_mode_refuses_what_only_a_local_model_has():
    from typer.testing import CliRunner

    from converter.cli import app

    result = CliRunner().invoke(app, ["validate", "a.onnx", "--against", "b.onnx", "--endpoint", "http://127.0.0.1:1"])
    assert result.exit_code == 2
    assert "--endpoint checks a live server" in result.output


def test_one_verb_one_mode():
    import inspect

    from converter import api

    assert "endpoint" not in inspect.signature(api.validate).parameters
    assert {"report", "plot"} <= set(inspect.signature(api.validate_endpoint).parameters)


def test_deploy_verbs_are_exported():
    assert {"package", "serve", "validate_endpoint"} <= set(converter.__all__)
    assert callable(converter.package) and callable(converter.serve)


def _module_imports() -> dict[str, set[str]]:
    """converter module -> the converter modules it imports at module level (not inside functions)."""
    import ast

    package = ROOT / "converter"
    names = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in package.rglob("*.py")}
    imports = {}
    for name, path in names.items():
        found = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("converter"):
                found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("converter")}
        imports[name] = {dep for dep in found if dep in names and dep != name}
    return imports


def test_no_import_cycles_and_only_the_cli_imports_the_api():
    imports = _module_imports()
    importers = sorted(m for m, deps in imports.items() if "converter.api" in deps)
    assert all(m == "converter" or m.startswith("converter.cli") for m in importers), importers
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join(path + (module,))}"
        if module in done:
            return
        for dep in imports[module]:
            visit(dep, path + (module,))
        done.add(module)

    for module in imports:
        visit(module, ())
