"""graphtool's version: the one its installed distribution records (pyproject.toml's, as pip installed it)."""

from __future__ import annotations

import functools

__all__ = ["version", "DISTRIBUTION", "UNKNOWN"]

DISTRIBUTION = "graphtool"
UNKNOWN = "0+unknown"  # a checkout run without installing: a valid version that no release will ever have


@functools.cache
def version() -> str:
    """The installed graphtool's version; UNKNOWN only where graphtool is not installed."""
    from importlib import metadata  # not at the top: `import converter` and `graphtool --help` stay light

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN
