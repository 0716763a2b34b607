"""The docs: the site builds strictly, the CLI reference matches the app's --help, the README stays a front door."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from converter.cli import app, reference

ROOT = Path(__file__).resolve().parents[1]
CLI_PAGE = ROOT / "docs" / "cli.md"
README = ROOT / "README.md"
README_MAX_LINES = 300

_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_SECTION = re.compile(r"^## (graphtool[^\n]*)\n\n```text\n(.*?)^```$", re.M | re.S)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def cli_help(path: tuple[str, ...]) -> str:
    """`graphtool *path --help` through CliRunner, at the page's width, colour codes and trailing blanks gone."""
    env = {"COLUMNS": str(reference.COLUMNS), "TERM": "dumb", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="graphtool", env=env, color=False)
    assert result.exit_code == 0, result.output
    return "\n".join(line.rstrip() for line in _ANSI.sub("", result.output).splitlines()).strip("\n") + "\n"


def sections(page: str) -> dict[str, str]:
    """The CLI reference's sections: heading ("graphtool convert") -> the help in its fenced block."""
    return dict(_SECTION.findall(page))


def test_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "cli" / "index.html").is_file()
    assert (tmp_path / "site" / "viewers" / "index.html").read_text().count("html_report.png") >= 1


def test_cli_reference_is_current():
    assert reference.render() == CLI_PAGE.read_text(encoding="utf-8"), (
        "docs/cli.md is stale: regenerate it with `make docs-cli` (python -m converter.cli.reference -o docs/cli.md)")


@pytest.mark.parametrize("path", reference.command_paths(), ids=lambda path: " ".join(("graphtool", *path)))
def test_cli_reference_section_is_the_help(path):
    title = " ".join(("graphtool", *path))
    page = sections(CLI_PAGE.read_text(encoding="utf-8"))
    assert title in page, f"docs/cli.md has no section for `{title}`: run `make docs-cli`"
    assert page[title] == cli_help(path), f"`{title} --help` changed: run `make docs-cli`"


def test_cli_reference_has_every_command_once():
    titles = [title for title, _ in _SECTION.findall(CLI_PAGE.read_text(encoding="utf-8"))]
    assert titles == [" ".join(("graphtool", *path)) for path in reference.command_paths()]


def test_an_edited_section_is_caught(tmp_path):
    page = CLI_PAGE.read_text(encoding="utf-8")
    edited = page.replace("Target format:", "Target formats:", 1)
    assert edited != page
    stale = [title for title, text in sections(edited).items()
             if text != cli_help(tuple(title.split()[1:]))]
    assert stale == ["graphtool convert"]
    copy = tmp_path / "cli.md"
    copy.write_text(edited, encoding="utf-8")
    assert reference.main(["--check", str(copy)]) == 1


def test_sub_apps_get_sections_of_their_own():
    toy = typer.Typer(add_completion=False)

    @toy.command()
    def first() -> None:
        """A first command."""

    group = typer.Typer(help="A group.")

    @group.command()
    def inner(count: int = 1) -> None:
        """An inner command."""

    toy.add_typer(group, name="group")
    assert reference.command_paths(toy) == [(), ("first",), ("group",), ("group", "inner")]
    text = reference.help_text(("group", "inner"), toy)
    assert "Usage: graphtool group inner" in text and "An inner command." in text


def _slug(heading: str) -> str:
    """Python-Markdown's toc slug, as mkdocs makes a heading's anchor."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(markdown: Path) -> set[str]:
    text = _FENCE.sub("", markdown.read_text(encoding="utf-8"))
    return {_slug(match) for match in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"


def test_readme_links_resolve():
    text = _FENCE.sub("", README.read_text(encoding="utf-8"))
    links = [target for target in _LINK.findall(text) if not re.match(r"[a-z]+:", target)]
    assert links, "README.md links into docs/"
    broken = []
    for target in links:
        file, _, anchor = target.partition("#")
        path = (README.parent / file).resolve() if file else README
        missing_anchor = anchor and path.suffix == ".md" and path.exists() and anchor not in _anchors(path)
        if not path.exists() or missing_anchor:
            broken.append(target)
    assert not broken, f"README.md links to what does not exist: {broken}"
