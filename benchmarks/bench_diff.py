"""Time `diff_graphs` on synthetic model pairs of 1k, 10k and 50k nodes (all names changed, sparse edits)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from graph_models import layered_model, rename_all  # noqa: E402

from converter.graphs.diff import diff_graphs  # noqa: E402
from converter.graphs.graph import to_graph  # noqa: E402

SIZES = (1_000, 10_000, 50_000)


def bench(nodes: int, repeats: int) -> dict:
    """Build one pair, then time graph building and the diff (best of ``repeats``)."""
    model_a = layered_model(nodes)
    model_b = rename_all(layered_model(nodes, edit_every=50), seed=1)
    start = time.perf_counter()
    ga, gb = to_graph(model_a), to_graph(model_b)
    graph_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        diff = diff_graphs(ga, gb)
        best = min(best, time.perf_counter() - start)
    return {"nodes": ga.number_of_nodes(), "graph_s": graph_s, "diff_s": best, "summary": diff.summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'nodes':>8} {'to_graph x2 (s)':>16} {'diff (s)':>9} {'us/node':>8}  changes found")
    for size in args.sizes:
        row = bench(size, args.repeats if size <= 10_000 else 1)
        summary = row["summary"]
        found = (f"{summary['changed']} changed, {summary['weights_changed']} weights, "
                 f"{summary['added']} added, {summary['removed']} removed, {summary['renamed']} renamed")
        print(f"{row['nodes']:>8} {row['graph_s']:>16.2f} {row['diff_s']:>9.2f} "
              f"{row['diff_s'] / row['nodes'] * 1e6:>8.1f}  {found}")


if __name__ == "__main__":
    main()
