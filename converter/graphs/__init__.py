"""Graph views of normalized models and what is done with them: match, diff, collapse, render, summary.

The data flow reads down the modules: ``graph`` (ModelProto -> networkx view), ``match`` (pair the
nodes of two views), ``quantized`` (a quantized or float16 view folded back into its float layers), ``changes``,
``diff`` and ``precision`` (what differs, and in which precision), ``collapse`` and ``render`` (what a
diagram draws, as DOT), ``files`` (writing diagrams) and ``summary`` (what ``inspect`` reports); the
whole-model verbs that end in a viewer are in ``converter.pipelines.graph_verbs``. Importing the package
loads none of them, none imports torch or tensorflow, and none imports sources, targets or anything above.
"""

from __future__ import annotations

__all__: list[str] = []
