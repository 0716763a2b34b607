"""A converted EfficientNet-B0 (and a ResNet-18, a MobileNetV2) SavedModel against the eager PyTorch module.

Run: python benchmarks/bench_efficientnet.py [--runs N] [--threads 2] [--baseline REF] [--only NAME ...]
Each model is built in code (timm-like, random seeded weights, eval mode), exported with torch.onnx.export
(TorchScript exporter, opset 17, dynamic batch), converted with `converter.api.convert(..., "savedmodel")`
(validated) and its serving signature timed against the eager module at 224x224, batch 1 and 8, in alternating
blocks (tf_speed._interleaved), both on the same thread budget: torch.set_num_threads(T) and TensorFlow's
intra- and inter-op pools of T threads. With --baseline REF the same ONNX file is also converted by the
converter of git ref REF (in a subprocess) and timed in the same blocks: before and after side by side.
ratio = SavedModel / eager median latency; goal <= 1.0x. CPU ms: the process's CPU time per call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from tf_speed import _interleaved  # noqa: E402
from torch import nn  # noqa: E402

# (expand ratio, channels, repeats, stride, kernel) per stage of EfficientNet-B0.
B0_STAGES = ((1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3),
             (6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3))
SIZE = 224
GOAL = 1.0


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.SiLU()) if act else nn.Sequential(*layers)


class _SqueezeExcite(nn.Module):
    """Global average pool -> 1x1 reduce -> SiLU -> 1x1 expand -> sigmoid gate (timm's SqueezeExcite)."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.expand(nn.functional.silu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(scale)


class _MBConv(nn.Module):
    """Inverted residual: expand 1x1, depthwise kxk, SE (input channels / 4), project 1x1, residual if shapes match."""

    def __init__(self, cin: int, cout: int, expand: int, stride: int, kernel: int):
        super().__init__()
        mid = cin * expand
        self.expand = _conv_bn(cin, mid, 1) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self.se = _SqueezeExcite(mid, max(1, cin // 4))
        self.project = _conv_bn(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return x + y if self.residual else y


class EfficientNetB0(nn.Module):
    """EfficientNet-B0 (Tan & Le 2019) as timm's efficientnet_b0 builds it, for 1000 classes."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        self.stem = _conv_bn(3, 32, 3, 2)
        blocks, cin = [], 32
        for expand, cout, repeats, stride, kernel in B0_STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(cin, cout, expand, stride if i == 0 else 1, kernel))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = _conv_bn(cin, 1280, 1)
        self.fc = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.head(self.blocks(self.stem(x))).mean((2, 3)), 1))


class _InvertedResidual(nn.Module):
    """MobileNetV2's block: expand 1x1, depthwise 3x3, project 1x1, ReLU6, residual if shapes match."""

    def __init__(self, cin: int, cout: int, expand: int, stride: int):
        super().__init__()
        mid = cin * expand
        layers = [] if expand == 1 else [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6()]
        layers += [nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                   nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018), width 1.0, for 1000 classes."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        stages = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                  (6, 320, 1, 1))
        layers, cin = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()], 32
        for expand, cout, repeats, stride in stages:
            for i in range(repeats):
                layers.append(_InvertedResidual(cin, cout, expand, stride if i == 0 else 1))
                cin = cout
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


def _resnet18() -> nn.Module:
    from torch_speed import ResNet18

    return ResNet18()


MODELS = {"efficientnet_b0": EfficientNetB0, "resnet18": _resnet18, "mobilenetv2": MobileNetV2}


def _calibrated(module: nn.Module) -> nn.Module:
    """In eval mode, batch norms holding the statistics of random inputs.

    With default running statistics the random network's signal vanishes and its output ignores the input,
    which validation rightly calls inconclusive.
    """
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.momentum = None  # a plain average over the calibration batches
    module.train()
    with torch.no_grad():
        for _ in range(2):
            module(torch.randn(4, 3, SIZE, SIZE))
    return module.eval()


def export(name: str, folder: Path) -> tuple[nn.Module, Path]:
    """The seeded eval-mode module and its ONNX export (opset 17, dynamic batch)."""
    torch.manual_seed(0)
    module = _calibrated(MODELS[name]())
    path = folder / f"{name}.onnx"
    torch.onnx.export(module, (torch.randn(1, 3, SIZE, SIZE),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False)
    return module, path


def convert(onnx_path: Path, output: Path) -> Path:
    """This tree's converter, validated."""
    from converter import api

    result = api.convert(str(onnx_path), "savedmodel", output)
    if not result:
        raise SystemExit(f"{onnx_path.name}: the conversion did not validate: {result.report.to_dict()}")
    return output


def convert_at(ref: str, onnx_path: Path, output: Path, folder: Path) -> Path:
    """The converter of git ref `ref` (its `converter/` package extracted to `folder`), validated, in a subprocess."""
    root = Path(__file__).resolve().parent.parent
    tree = folder / "tree"
    if not tree.exists():
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(root), "archive", ref, "converter"], check=True,
                                 capture_output=True).stdout
        archive_path = folder / "tree.tar"
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extractall(tree, filter="data")
    code = ("import sys; from converter import api; "
            "sys.exit(not api.convert(sys.argv[1], 'savedmodel', sys.argv[2]))")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # Run from the extracted tree: `python -c` puts the working folder first on sys.path.
    subprocess.run([sys.executable, "-c", code, str(onnx_path), str(output)], check=True, env=env, cwd=tree)
    return output


def _serving(path: Path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["serving_default"]
    name = next(iter(signature.structured_input_signature[1]))

    def call(x: np.ndarray, keep=loaded):  # keep: the variables live with the loaded object
        return signature(**{name: tf.constant(x)})

    return call


def graph_ops(path: Path) -> dict[str, int]:
    """How many of each TensorFlow op the serving signature's graph holds (nested functions included)."""
    import tensorflow as tf

    graph_def = tf.saved_model.load(str(path)).signatures["serving_default"].graph.as_graph_def()
    counts: dict[str, int] = {}
    for node in [*graph_def.node, *(n for f in graph_def.library.function for n in f.node_def)]:
        counts[node.op] = counts.get(node.op, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def measure(name: str, runs: int, baseline: str | None, folder: Path) -> list[dict]:
    """Eager vs this tree's SavedModel (and the baseline's) at batch 1 and 8."""
    module, onnx_path = export(name, folder)
    sides = {"eager": None, "after": convert(onnx_path, folder / f"{name}_after")}
    if baseline:
        sides["before"] = convert_at(baseline, onnx_path, folder / f"{name}_before", folder)
    calls = {"eager": lambda x: module(torch.from_numpy(x))}
    calls.update({k: _serving(p) for k, p in sides.items() if p is not None})
    ops = {k: graph_ops(p) for k, p in sides.items() if p is not None}
    rows = []
    for batch in (1, 8):
        x = np.random.default_rng(batch).standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)
        expected = module(torch.from_numpy(x)).numpy()
        for side in calls:
            if side != "eager":
                got = next(iter(calls[side](x).values())).numpy()
                assert np.allclose(got, expected, atol=1e-3, rtol=1e-3), f"{side} differs from eager"
        names = list(calls)
        timed = _interleaved([lambda c=calls[k], x=x: c(x) for k in names], runs)
        by = dict(zip(names, timed, strict=True))
        row = {"model": name, "batch": batch, "runs": runs}
        for side, (wall, cpu) in by.items():
            row[f"{side}_ms"], row[f"{side}_cpu_ms"] = round(wall, 2), round(cpu, 2)
            if side != "eager":
                row[f"{side}_ratio"] = round(wall / by["eager"][0], 2)
                row[f"{side}_ops"] = sum(ops[side].values())
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed calls per side and batch")
    parser.add_argument("--threads", type=int, default=2, help="torch threads and TensorFlow intra/inter-op threads")
    parser.add_argument("--baseline", help="git ref whose converter is timed beside this tree's (e.g. main)")
    parser.add_argument("--only", choices=sorted(MODELS), nargs="+")
    parser.add_argument("--ops", action="store_true", help="print each SavedModel's op counts")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    warnings.filterwarnings("ignore")
    import tensorflow as tf

    # Before anything runs in either runtime: the pools are sized once.
    torch.set_num_threads(options.threads)
    torch.set_num_interop_threads(options.threads)
    tf.config.threading.set_intra_op_parallelism_threads(options.threads)
    tf.config.threading.set_inter_op_parallelism_threads(options.threads)
    rows = []
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        for name in MODELS:
            if options.only and name not in options.only:
                continue
            for row in measure(name, options.runs, options.baseline, Path(folder)):
                print(json.dumps(row), flush=True)
                rows.append(row)
            if options.ops:
                for side in ("before", "after"):
                    path = Path(folder) / f"{name}_{side}"
                    if path.exists():
                        print(side, json.dumps(graph_ops(path)), flush=True)
    load = os.getloadavg()
    print(f"\nload average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores, "
          f"{options.threads} threads a side; SavedModel / eager median latency")
    sides = [s for s in ("before", "after") if any(f"{s}_ratio" in r for r in rows)]
    print("| model | " + " | ".join(f"{s} batch {b}" for s in sides for b in (1, 8)) + " |")
    print("| --- |" + " --- |" * (2 * len(sides)))
    for model in dict.fromkeys(r["model"] for r in rows):
        by = {r["batch"]: r for r in rows if r["model"] == model}
        print(f"| {model} | " + " | ".join(f"{by[b][f'{s}_ratio']}x" for s in sides for b in (1, 8)) + " |")
    if options.json:
        options.json.write_text(json.dumps(rows, indent=1))
    return 0 if all(r["after_ratio"] <= GOAL for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
