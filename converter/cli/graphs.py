"""Commands on graph views: diff and render (issue 3)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the graph commands to the app."""
