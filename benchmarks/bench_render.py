"""Time rendering a 10,000-node model to SVG: graph view, collapsing, DOT source and Graphviz's dot."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from graph_models import layered_model  # noqa: E402

from converter.graphs.files import write_rendering  # noqa: E402
from converter.graphs.graph import to_graph  # noqa: E402
from converter.graphs.render import render_graph  # noqa: E402


def bench(nodes: int, scoped: bool, out: Path) -> dict:
    """Render one model; returns the seconds of each phase."""
    model = layered_model(nodes, scoped=scoped)
    start = time.perf_counter()
    graph = to_graph(model)
    graph_s = time.perf_counter() - start
    start = time.perf_counter()
    rendering = render_graph(graph)
    render_s = time.perf_counter() - start
    start = time.perf_counter()
    written = write_rendering(rendering, out / f"model_{'scoped' if scoped else 'flat'}.svg", "svg")
    dot_s = time.perf_counter() - start
    return {"nodes": graph.number_of_nodes(), "items": rendering.items, "graph_s": graph_s,
            "render_s": render_s, "dot_s": dot_s, "svg": written.output is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args()
    if shutil.which("dot") is None:
        print("note: Graphviz 'dot' is not installed; timing the .dot source only")
    print(f"{'model':>8} {'nodes':>7} {'drawn':>6} {'to_graph':>9} {'collapse+DOT':>13} {'dot':>6} {'total (s)':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for scoped in (True, False):
            row = bench(args.nodes, scoped, Path(tmp))
            total = row["graph_s"] + row["render_s"] + row["dot_s"]
            print(f"{'scoped' if scoped else 'flat':>8} {row['nodes']:>7} {row['items']:>6} {row['graph_s']:>9.2f} "
                  f"{row['render_s']:>13.2f} {row['dot_s']:>6.2f} {total:>10.2f}")


if __name__ == "__main__":
    main()
