"""Graph views of normalized models and what is done with them: match, diff, collapse, render, summary.

The data flow reads down the modules: ``graph`` (ModelProto -> networkx view), ``match`` (pair the
nodes of two views), ``changes`` and ``diff`` (what differs), ``collapse`` and ``render`` (what a
diagram draws, as DOT), ``files`` (writing diagrams), ``summary`` (what ``inspect`` reports) and
``verbs`` (whole-model diff and render, as ``converter.api`` calls them). Importing the package loads
none of them, and none imports torch or tensorflow.
"""

from __future__ import annotations

__all__: list[str] = []
