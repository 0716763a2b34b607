"""The bottom layer every other package stands on: errors, shared types, runners, framework imports, file chores.

Nothing here imports another converter package. Importing the package loads none of its modules.
"""

from __future__ import annotations

__all__: list[str] = []
