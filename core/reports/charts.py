"""Bar and line charts drawn on the server as SVG: no JavaScript, and the same markup can go
into a PDF. Sized by a viewBox, so the chart scales to its container."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from core.plugin_system.types import ReportChart, ReportResult

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 56
# Colours that stay apart for common colour blindness (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
MAX_LABELS = 16


def _nice_top(value: float) -> tuple[float, float]:
    """A round top for the axis and its tick step (0-10, 0-250, ...)."""
    if value <= 0:
        return 1.0, 0.25
    step = 10 ** math.floor(math.log10(value / 4))
    for factor in (1, 2, 2.5, 5, 10):
        if value / (step * factor) <= 4:
            step *= factor
            break
    return step * math.ceil(value / step), step


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}".rstrip("0")


def _label(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text if len(text) <= 18 else text[:17] + "…"


def svg(chart: ReportChart, result: ReportResult, title: str = "") -> Markup:
    """The chart of ``result`` as an ``<svg>`` element (empty when there is nothing to draw)."""
    rows = list(result.rows)
    labels_by_key = {c.key: str(c.label) for c in result.columns}
    series = [k for k in chart.y if k in labels_by_key]
    if not rows or not series:
        return Markup("")
    values = [[float(row.get(k) or 0) for row in rows] for k in series]
    top, step = _nice_top(max(max(v) for v in values))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="report-chart" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
    ]
    ticks = int(round(top / step))
    for i in range(ticks + 1):
        value = step * i
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#dee2e6"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#495057">'
            f"{escape(_number(value))}</text>"
        )
    slot = plot_w / len(rows)
    every = max(1, math.ceil(len(rows) / MAX_LABELS))
    for index, row in enumerate(rows):
        if index % every:
            continue
        x = LEFT + slot * (index + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="end" fill="#495057" '
            f'transform="rotate(-30 {x:.1f} {HEIGHT - BOTTOM + 14})">'
            f"{escape(_label(row.get(chart.x)))}</text>"
        )
    if chart.kind == "line":
        parts.extend(_lines(values, slot, y))
    else:
        parts.extend(_bars(values, slot, y, rows, chart.x))
    parts.append(_legend([labels_by_key[k] for k in series]))
    parts.append("</svg>")
    return Markup("".join(parts))


def _bars(values, slot: float, y, rows, x_key: str) -> list[str]:
    out = []
    width = slot * 0.8 / len(values)
    base = y(0)
    for s, series in enumerate(values):
        colour = PALETTE[s % len(PALETTE)]
        for index, value in enumerate(series):
            x = LEFT + slot * (index + 0.1) + width * s
            out.append(
                f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{max(width, 1):.1f}" '
                f'height="{max(base - y(value), 0):.1f}" fill="{colour}">'
                f"<title>{escape(_label(rows[index].get(x_key)))}: {escape(_number(value))}"
                "</title></rect>"
            )
    return out


def _lines(values: Sequence[Sequence[float]], slot: float, y) -> list[str]:
    out = []
    for s, series in enumerate(values):
        colour = PALETTE[s % len(PALETTE)]
        points = " ".join(f"{LEFT + slot * (i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(series))
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(series) <= 62:
            out.extend(
                f'<circle cx="{LEFT + slot * (i + 0.5):.1f}" cy="{y(v):.1f}" r="3" '
                f'fill="{colour}"><title>{escape(_number(v))}</title></circle>'
                for i, v in enumerate(series)
            )
    return out


def _legend(names: list[str]) -> str:
    if len(names) < 2:
        return ""
    out, x = [], LEFT
    for s, name in enumerate(names):
        out.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" '
            f'fill="{PALETTE[s % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 5}">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return "".join(out)
