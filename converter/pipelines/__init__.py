"""The chains the verbs run, above every step they chain: convert (stage, write, validate, move into place)
and the graph verbs that end in a viewer. The API and batch call these; nothing below imports them.
"""

from __future__ import annotations

__all__: list[str] = []
