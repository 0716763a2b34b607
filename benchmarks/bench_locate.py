"""Peak memory of --locate against one inference and against exposing every intermediate at once.

Each measurement runs in its own process (peak RSS from getrusage). The model is a chain of
elementwise ops on a 1 MiB activation, broken near its end, so --locate must scan it all.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPS = ("Tanh", "Mul", "Add")


def build(nodes: int, broken_at: int | None) -> onnx.ModelProto:
    """A chain of `nodes` ops on a [256, 1024] float32 tensor; one Tanh becomes Sigmoid at `broken_at`."""
    layers, inits = [], [numpy_helper.from_array(np.float32(0.9), "scale"),
                         numpy_helper.from_array(np.float32(0.01), "shift")]
    for i in range(nodes):
        op = OPS[i % 3]
        op = "Sigmoid" if i == broken_at else op
        extra = ["scale"] if op == "Mul" else ["shift"] if op == "Add" else []
        layers.append(helper.make_node(op, [f"t{i}", *extra], [f"t{i + 1}"], name=f"n{i}"))
    graph = helper.make_graph(layers, "chain", [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [256, 1024])],
                              [helper.make_tensor_value_info(f"t{nodes}", TensorProto.FLOAT, [256, 1024])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def child(mode: str, folder: Path) -> None:
    from converter.core.onnx_utils import with_outputs
    from converter.core.runners import ort_runner
    from converter.validation.locate import Probe, identity_pairs, locate
    from converter.validation.tolerance import Tolerances

    good, bad = onnx.load(folder / "good.onnx"), onnx.load(folder / "bad.onnx")
    feeds = {"t0": np.random.default_rng(0).standard_normal((256, 1024)).astype(np.float32)}
    start = time.perf_counter()
    detail = ""
    if mode == "inference":
        ort_runner(bad).run(feeds)
    elif mode == "mark-all":
        names = [n.output[0] for n in bad.graph.node]
        values = ort_runner(with_outputs(bad, names)).run(feeds)
        detail = f"{len(values)} tensors held"
    else:
        located = locate(Probe(good, "cpu"), Probe(bad, "cpu"), identity_pairs(bad), (feeds, feeds), Tolerances())
        detail = f"found {located.node} after {located.compared} tensors in {located.windows} windows"
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "peak_mib": peak_mib, "seconds": seconds, "detail": detail}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=3000)
    parser.add_argument("--child", choices=["inference", "locate", "mark-all"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folder)
        return
    with tempfile.TemporaryDirectory() as folder:
        onnx.save(build(args.nodes, None), Path(folder) / "good.onnx")
        onnx.save(build(args.nodes, args.nodes - 10), Path(folder) / "bad.onnx")
        rows = []
        for mode in ("inference", "locate", "mark-all"):
            out = subprocess.run([sys.executable, __file__, "--child", mode, "--folder", folder],
                                 check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    base = rows[0]["peak_mib"]
    print(f"{args.nodes}-node chain, 1 MiB activations, broken {10} nodes before the end")
    for row in rows:
        print(f"{row['mode']:10s} peak {row['peak_mib']:8.0f} MiB  {row['peak_mib'] / base:5.2f}x one inference  "
              f"{row['seconds']:7.2f} s  {row['detail']}")


if __name__ == "__main__":
    main()
