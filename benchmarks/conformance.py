"""Conformance of graphtool's converters (ONNX -> TensorFlow, ONNX -> PyTorch) against onnxruntime.

The harness lives in converter.conformance (shared with the tests); this script runs it and prints the counts.
- the ONNX backend node test cases shipped with onnx: a case counts where onnxruntime (CPU) passes it,
  and a converter passes it when every output has the expected dtype and shape, floats within the
  case's rtol/atol and everything else exactly;
- the nine light CNNs with seeded random weights, compared on the output and
  on the logits before the final softmax; with --artifacts, also as the files each converter writes
  (SavedModel and TFLite; pt2 and TorchScript), loaded back.
Run: python benchmarks/conformance.py [--backend tf,torch] [--filter S] [--no-nodes] [--no-light]
     [--artifacts] [--verbose] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from converter.conformance.cases import GOALS, node_report, run_case  # noqa: E402
from converter.conformance.light import LightResult, compare_light, light_models  # noqa: E402

__all__ = ["main"]


def _print_nodes(report: dict[str, Any], backend: str, verbose: bool) -> None:
    print(f"[{backend}] backend node cases: {report['cases']}; onnxruntime passes {report['onnxruntime_passes']}; "
          f"the converter passes {report['passes']} of those ({report['fraction']:.1%}, goal {report['goal']:.0%}), "
          f"{report['passes_of_all']} of all")
    for op, failures in report["failures_by_op"].items():
        print(f"    {op}: {len(failures)} failing")
        for line in failures if verbose else failures[:1]:
            print(f"        {line}")


def _print_light(r: LightResult) -> None:
    extras = " ".join(f"{k} {v:.1e}" for k, v in r.artifacts.items())
    transposes = f" transposes {r.transposes}" if r.transposes is not None else ""
    print(f"[{r.backend}] {r.model:22s} {'ok' if r.ok else 'FAIL':4s} output {r.output_max_abs:.1e} "
          f"logits {r.logits_max_abs:.1e} (of {r.logits_scale:.1f}) top1 {'same' if r.top1_equal else 'differs'} "
          f"{extras}{transposes} {r.seconds:.1f}s {r.reason}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts for the chosen converters; exit 0 when every goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tf,torch", help="comma-separated: tf, torch")
    parser.add_argument("--filter", default="", help="only node cases whose name contains this")
    parser.add_argument("--no-nodes", action="store_true", help="skip the backend node cases")
    parser.add_argument("--no-light", action="store_true", help="skip the light CNNs")
    parser.add_argument("--artifacts", action="store_true", help="also write and reload each light CNN's files")
    parser.add_argument("--verbose", action="store_true", help="list every failing case")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    args = parser.parse_args(argv)
    backends = [b for b in args.backend.split(",") if b]
    unknown = sorted(set(backends) - set(GOALS))
    if unknown:
        parser.error(f"unknown backend {unknown[0]}; choose from {', '.join(GOALS)}")
    warnings.filterwarnings("ignore")
    report: dict[str, Any] = {}
    met = True
    if not args.no_nodes:
        from onnx.backend.test.case.node import collect_testcases

        start = time.perf_counter()
        results = [run_case(c, backends) for c in collect_testcases(None) if args.filter in c.name]
        report["seconds"] = round(time.perf_counter() - start, 1)
        report["nodes"] = {b: node_report(results, b) for b in backends}
        for backend, nodes in report["nodes"].items():
            _print_nodes(nodes, backend, args.verbose)
            met = met and nodes["fraction"] >= nodes["goal"]
    if not args.no_light:
        light = []
        for path in light_models():
            for backend in backends:
                light.append(compare_light(path, backend, artifacts=args.artifacts))
                _print_light(light[-1])
        report["light"] = [asdict(r) for r in light]
        met = met and all(r.ok for r in light)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
