"""Time the viewers on a generated model: HTML report and TensorBoard writing, and opening the report in Chromium."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from graph_models import layered_model  # noqa: E402

from converter.graphs.graph import to_graph  # noqa: E402
from converter.viewers.data import model_view  # noqa: E402
from converter.viewers.html import write_html  # noqa: E402
from converter.viewers.tensorboard import to_graph_def, write_graph  # noqa: E402


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-viewers-"))
    try:
        for size in (1000, 15012):
            g = to_graph(layered_model(size))
            start = time.perf_counter()
            view = model_view(g, "bench")
            path = write_html(view, folder / f"m{size}.html")
            html_s = time.perf_counter() - start
            start = time.perf_counter()
            write_graph(to_graph_def(g), folder / "logs", f"m{size}")
            tb_s = time.perf_counter() - start
            opened = _open_seconds(path)
            print(f"{len(view.nodes):>6} drawn nodes: HTML {html_s:.2f} s ({path.stat().st_size / 1e6:.1f} MB), "
                  f"TensorBoard {tb_s:.2f} s, Chromium open (collapsed) {opened}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _open_seconds(path: Path) -> str:
    executable = shutil.which("chromium")
    if executable is None:
        return "n/a (no chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        times = []
        for _ in range(3):
            start = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready='1']")
            times.append(time.perf_counter() - start)
        browser.close()
    return f"{min(times):.2f} s (best of 3)"


if __name__ == "__main__":
    main()
