"""Keras models built without downloads, converted TensorFlow -> ONNX -> pt2 and TorchScript, and validated.

Each model goes through graphtool's convert (the same path as `graphtool convert MODEL --to pt2`), which
validates the artifact against Keras on three samples (batch 2, 3, 1) before it keeps it. The
keras.applications networks have weights=None, logits out (no softmax to hide errors) and random
BatchNorm statistics, so every layer matters.
Run: python benchmarks/keras_to_torch.py [--models ResNet50,...] [--targets pt2,torchscript] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPLICATIONS = ("MobileNetV2", "EfficientNetB0", "ResNet50", "DenseNet121", "InceptionV3", "NASNetMobile",
                "ConvNeXtTiny", "Xception", "VGG16")
FIXTURES = ("keras_lstm.keras", "keras_two_io.keras", "keras_cnn.h5", "cond_savedmodel")
SIZES = {"InceptionV3": 96, "Xception": 96, "NASNetMobile": 224}  # the smallest inputs these accept

__all__ = ["KerasResult", "convert_one", "main"]


@dataclass(frozen=True)
class KerasResult:
    """One model to one target: whether validation passed, its worst error, how it was captured."""

    model: str
    target: str
    passed: bool
    max_abs: float
    strategy: str
    seconds: float
    reason: str = ""


def convert_one(name: str, source, target: str, directory: Path) -> KerasResult:
    """Convert `source` with graphtool and summarize the validation."""
    from converter.api import convert
    from converter.core.errors import GraphtoolError, first_line

    start = time.perf_counter()
    try:
        result = convert(source, target, directory / f"{name}.{target}", force=True)
    except GraphtoolError as error:
        return KerasResult(name, target, False, float("nan"), "", time.perf_counter() - start, first_line(error, 200))
    errors = [o["max_abs"] for d in result.report.to_dict()["devices"] for o in d["outputs"]]
    return KerasResult(name, target, bool(result), max(errors), str(result.artifact.get("strategy", "")),
                       time.perf_counter() - start)


def _sources(models: list[str]):
    sys.path.insert(0, str(ROOT / "fixtures"))
    import tf_models

    for name in models:
        if name in APPLICATIONS or name not in FIXTURES:
            yield name, tf_models.keras_application(name, SIZES.get(name, 64))
        else:
            yield name, ROOT / "fixtures" / "tf" / name


def main(argv: list[str] | None = None) -> int:
    """Convert every model to every target; exit 0 when all validate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(APPLICATIONS + FIXTURES))
    parser.add_argument("--targets", default="pt2,torchscript")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for name, source in _sources(args.models.split(",")):
            for target in args.targets.split(","):
                result = convert_one(name, source, target, Path(directory))
                results.append(result)
                print(f"{result.model:20s} {result.target:12s} {'ok' if result.passed else 'FAIL':4s} "
                      f"max|d|={result.max_abs:.1e} {result.strategy:8s} {result.seconds:5.1f}s {result.reason}",
                      flush=True)
    passed = sum(r.passed for r in results)
    print(f"{passed} of {len(results)} conversions validated")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
