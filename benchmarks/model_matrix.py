"""The coverage matrix's figures: each model's max abs error per target, or why it stops (docs/sources.md)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from matrix_models import CASES, Case, case_id, max_errors, source_of  # noqa: E402

from converter import api  # noqa: E402
from converter.core.errors import GraphtoolError  # noqa: E402
from converter.core.types import LoadOptions  # noqa: E402
from converter.pipelines.convert import convert  # noqa: E402

SAMPLES = 2  # as the test: traced, one resized sample, and the negated / scaled / zeroed exercises


def row(case: Case, folder: Path) -> list[str]:
    """The strategy, then per target the max abs error, 'exit 1' or 'exit 2: <reason>'."""
    start = time.perf_counter()
    try:
        loaded = api.load(source_of(case, folder), LoadOptions(input_specs=case.specs))
    except GraphtoolError as error:
        return ["-", f"exit 2: {_short(error)}", "", "", f"{time.perf_counter() - start:.0f}"]
    cells = [loaded.source.strategy or "-"]
    for target in case.targets:
        try:
            result = convert(lambda: loaded, target, folder / f"model.{target}", samples=SAMPLES)
        except GraphtoolError as error:
            cells.append(f"exit 2: {_short(error)}")
            continue
        cells.append(f"{max_errors(result):.1e}" if result else f"exit 1 (max abs {max_errors(result):.1e})")
    return [*cells, f"{time.perf_counter() - start:.0f}"]


def _short(error: Exception, width: int = 70) -> str:
    text = str(error).split(": ", 1)[-1]
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-k", default="", help="only cases whose id contains this")
    args = parser.parse_args()
    print("| model | capture | onnx | savedmodel / pt2 | torchscript / tflite | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case in CASES:
        if args.k not in case_id(case):
            continue
        with tempfile.TemporaryDirectory() as folder:
            cells = row(case, Path(folder))
        print(f"| {case_id(case)} ({case.framework}) | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
