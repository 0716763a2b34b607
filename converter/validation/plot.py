"""Histograms of the element-wise error per device and output, as standalone SVG files."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from converter.core.atomic import atomic_path, check_writable
from converter.validation.metrics import HISTOGRAM_EDGES
from converter.validation.report import ValidationReport

__all__ = ["write_plots"]

_WIDTH, _HEIGHT, _MARGIN = 640, 320, 48


def write_plots(report: ValidationReport, directory: Path, force: bool = False) -> list[Path]:
    """One SVG per device and output, each written atomically; none replaces a file unless ``force``."""
    directory.mkdir(parents=True, exist_ok=True)
    plots = [(directory / f"{_safe(device.device)}_{_safe(output.name)}.svg", device, output)
             for device in report.devices for output in device.outputs if output.histogram]
    for path, _, _ in plots:  # all refused before any is written
        check_writable(path, force)
    for path, device, output in plots:
        with atomic_path(path, force) as temporary:
            temporary.write_text(_svg(f"|error| of {output.name} on {device.device}", output.histogram,
                                      output.tolerance.atol))
    return [path for path, _, _ in plots]


def _labels() -> list[str]:
    decades = [f"<1e{e:d}" for e in range(-12, 3)]
    return ["0", *decades, ">=1e2"]


def _svg(title: str, counts: tuple[int, ...], atol: float) -> str:
    labels = _labels()
    top = max(counts) or 1
    plot_w, plot_h = _WIDTH - 2 * _MARGIN, _HEIGHT - 2 * _MARGIN
    bar_w = plot_w / len(counts)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" font-family="sans-serif">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{_WIDTH / 2}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<line x1="{_MARGIN}" y1="{_HEIGHT - _MARGIN}" x2="{_WIDTH - _MARGIN}" y2="{_HEIGHT - _MARGIN}" '
        'stroke="black"/>',
    ]
    for index, (count, label) in enumerate(zip(counts, labels, strict=True)):
        height = plot_h * count / top
        x = _MARGIN + index * bar_w
        within = index == 0 or (index <= len(HISTOGRAM_EDGES) and HISTOGRAM_EDGES[index - 1] <= atol)
        colour = "#4c9a52" if within else "#c8553d"
        parts.append(f'<rect x="{x + 1:.1f}" y="{_HEIGHT - _MARGIN - height:.1f}" width="{bar_w - 2:.1f}" '
                     f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}: {count}</title></rect>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{_HEIGHT - _MARGIN + 14}" font-size="8" '
                     f'text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<text x="{_MARGIN}" y="{_MARGIN - 6}" font-size="10">max count {top}; green: within atol '
                 f'{atol:g}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "output"
