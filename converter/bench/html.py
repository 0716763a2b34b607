"""`bench --html`: one self-contained page, a chart per batch size of each runtime's latency distribution."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from converter.bench.report import BenchReport
from converter.core.atomic import atomic_path

__all__ = ["write_html"]

WIDTH, ROW, LEFT, RIGHT = 800, 34, 170, 110  # RIGHT: room for the p50 label past the longest whisker


def write_html(report: BenchReport, path: str | Path, force: bool = False) -> Path:
    """The page: the table's figures, and per batch size a box plot (p1-p99 whiskers, p25-p75 box, p50 line)
    of every runtime's latencies on one log-scaled axis."""
    charts = "".join(_chart(report, batch) for batch in report.batch_sizes)
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in report.notes)
    title = html.escape(report.model)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>graphtool bench: {title}</title>
<style>body{{font:14px system-ui,sans-serif;margin:24px;color:#222}} svg text{{font:12px system-ui,sans-serif}}
</style></head><body>
<h1>graphtool bench</h1><p>{title}: {report.threads} threads per runtime, each in a process
of its own.</p><ul>{notes}</ul>{charts}</body></html>"""
    with atomic_path(Path(path), force) as temporary:
        temporary.write_text(page)
    return Path(path)


def _chart(report: BenchReport, batch: int) -> str:
    rows = [(r.label, t) for r in report.runtimes if (t := r.at(batch)) is not None and t.latencies_ms]
    rows += [(f"endpoint x{e.concurrency}", e) for e in report.endpoint if e.batch == batch and e.latencies_ms]
    if not rows:
        return f"<h2>batch {batch}</h2><p>nothing was timed at this batch size.</p>"
    everything = np.concatenate([np.asarray(t.latencies_ms) for _, t in rows])
    low, high = np.log10(max(float(everything.min()), 1e-4)), np.log10(float(everything.max()))
    span = max(high - low, 1e-6)

    def x(value: float) -> float:
        return LEFT + (np.log10(max(value, 1e-4)) - low) / span * (WIDTH - LEFT - RIGHT)

    parts = []
    for index, (label, timing) in enumerate(rows):
        y = 20 + index * ROW
        p1, p25, p50, p75, p99 = np.percentile(np.asarray(timing.latencies_ms), [1, 25, 50, 75, 99])
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + 5}" text-anchor="end">{html.escape(label)}</text>'
            f'<line x1="{x(p1):.1f}" x2="{x(p99):.1f}" y1="{y}" y2="{y}" stroke="#555"/>'
            f'<rect x="{x(p25):.1f}" y="{y - 9}" width="{max(x(p75) - x(p25), 1):.1f}" height="18" fill="#9cc3e6" '
            f'stroke="#245"/><line x1="{x(p50):.1f}" x2="{x(p50):.1f}" y1="{y - 9}" y2="{y + 9}" stroke="#c00" '
            f'stroke-width="2"/><text x="{x(p99) + 6:.1f}" y="{y + 4}">{p50:.3g} ms</text>')
    axis_y = 20 + len(rows) * ROW
    ticks = "".join(f'<line x1="{x(10.0 ** k):.1f}" x2="{x(10.0 ** k):.1f}" y1="8" y2="{axis_y - 10}" stroke="#eee"/>'
                    f'<text x="{x(10.0 ** k):.1f}" y="{axis_y + 4}" text-anchor="middle">{10.0 ** k:g} ms</text>'
                    for k in range(int(np.floor(low)), int(np.ceil(high)) + 1) if low <= k <= high)
    return (f"<h2>batch {batch}</h2><svg width=\"{WIDTH}\" height=\"{axis_y + 16}\" role=\"img\" "
            f"aria-label=\"latency per runtime at batch {batch}\">{ticks}{''.join(parts)}</svg>")
