"""Latency of a converted ResNet-18 vs the same network written in PyTorch (CPU, batch 1 and 8, one run).

The native model is exported to ONNX (torch.onnx.export, opset 17), converted back with
converter.targets.torch, and both are timed alternately in this process. Goal: converted <= 1.2x native.
Run: python benchmarks/torch_speed.py [--repeats 15] [--size 224] [--threads N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import onnx
import torch
from torch import nn

from converter.targets.torch import to_graph_module

__all__ = ["ResNet18", "SpeedResult", "measure", "main"]


class _Block(nn.Module):
    """The basic residual block: two 3x3 convs with batch norm, projection shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016) for 1000 classes."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        widths, blocks, cin = [64, 128, 256, 512], [], 64
        for i, width in enumerate(widths):
            blocks += [_Block(cin, width, 1 if i == 0 else 2), _Block(width, width, 1)]
            cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


@dataclass(frozen=True)
class SpeedResult:
    """Median latencies (ms) of the native and converted module at one batch size; `ratio` is the median
    of the paired (back-to-back) ratios, which load from other processes on the machine disturbs least."""

    batch: int
    native_ms: float
    converted_ms: float
    ratio: float
    ratio_of_minimums: float
    max_abs_diff: float

    def to_dict(self) -> dict:
        return asdict(self)


def _time(module: torch.nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    module(x)
    return (time.perf_counter() - start) * 1000


def measure(native: torch.nn.Module, converted: torch.nn.Module, batch: int, size: int, repeats: int) -> SpeedResult:
    """Time both modules alternately (after warm-up) on the same seeded input."""
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
    native_times, converted_times = [], []
    with torch.inference_mode():
        diff = float((native(x) - converted(x)).abs().max())
        for _ in range(2):
            native(x), converted(x)
        for _ in range(repeats):
            native_times.append(_time(native, x))
            converted_times.append(_time(converted, x))
    native_ms, converted_ms = statistics.median(native_times), statistics.median(converted_times)
    paired = statistics.median(c / n for n, c in zip(native_times, converted_times, strict=True))
    best = min(converted_times) / min(native_times)
    return SpeedResult(batch, round(native_ms, 2), round(converted_ms, 2), round(paired, 3), round(best, 3), diff)


def main(argv: list[str] | None = None) -> int:
    """Build, export, convert and time; exit 0 when every ratio is within 1.2x."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    native = ResNet18().eval()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "resnet18.onnx"
        torch.onnx.export(native, (torch.randn(1, 3, args.size, args.size),), str(path), input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, opset_version=17, dynamo=False)
        converted = to_graph_module(onnx.load(path)).eval()
    results = [measure(native, converted, batch, args.size, args.repeats) for batch in (1, 8)]
    print(f"ResNet-18 {args.size}x{args.size}, CPU, {torch.get_num_threads()} threads, median of {args.repeats}:")
    for r in results:
        print(f"  batch {r.batch}: native {r.native_ms:.1f} ms, converted {r.converted_ms:.1f} ms, "
              f"ratio {r.ratio:.3f}x (of minimums {r.ratio_of_minimums:.3f}x; max |diff| {r.max_abs_diff:.2e})")
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in results], indent=2))
    return 0 if all(r.ratio <= 1.2 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
