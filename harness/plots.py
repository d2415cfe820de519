"""Inline SVG charts for the HTML reports: no script, no external file, one string each.

A report page must open anywhere (a CI artifact, a release page, a laptop offline), so the
charts are plain SVG elements written into the page: a line chart (a series per target over
time) and grouped horizontal bars (a group per route or percentile, a bar per target).
Every mark has a ``<title>`` (the browser shows the exact figure on hover) and each chart
an ``aria-label``. Colours are fixed per target name so the same target looks the same in
every chart of every report.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

TARGET_COLOURS = {"pocketbase": "#6b7280", "sqlite": "#2563eb", "postgres": "#16a34a"}
_OTHER_COLOURS = ("#d97706", "#9333ea", "#db2777", "#0891b2")
_FONT = "font-family='sans-serif' font-size='11'"


def colour(name: str, index: int = 0) -> str:
    """The target's colour; other series take the spare ones in order."""
    return TARGET_COLOURS.get(name) or _OTHER_COLOURS[index % len(_OTHER_COLOURS)]


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """0 and round steps up to at least ``high`` (1, 2 or 5 times a power of ten)."""
    if high <= 0 or not math.isfinite(high):
        return [0.0, 1.0]
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [step * i for i in range(math.ceil(high / step - 1e-9) + 1)]


def _number(value: float) -> str:
    if value == int(value):
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _legend(names: Sequence[str], x: float, y: float) -> str:
    items = []
    for i, name in enumerate(names):
        top = y + 16 * i
        items.append(
            f"<rect x='{x:.0f}' y='{top - 9:.0f}' width='10' height='10' fill='{colour(name, i)}'/>"
            f"<text x='{x + 14:.0f}' y='{top:.0f}' {_FONT}>{html.escape(name)}</text>"
        )
    return "".join(items)


def line_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    x_label: str,
    y_label: str,
    width: int = 760,
    height: int = 260,
) -> str:
    """One polyline per series over shared axes starting at 0; empty series are left out."""
    shown = {name: points for name, points in series.items() if points}
    left, right, top, bottom = 64, 130, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    x_high = max((x for pts in shown.values() for x, _ in pts), default=1.0) or 1.0
    y_ticks = nice_ticks(max((y for pts in shown.values() for _, y in pts), default=1.0))
    x_ticks = nice_ticks(x_high, 6)

    def px(x: float) -> float:
        return left + plot_w * x / x_ticks[-1]

    def py(y: float) -> float:
        return top + plot_h * (1 - y / y_ticks[-1])

    parts = [
        f"<line x1='{left}' y1='{py(t):.1f}' x2='{left + plot_w}' y2='{py(t):.1f}' "
        f"stroke='#e5e7eb'/><text x='{left - 6}' y='{py(t) + 4:.1f}' text-anchor='end' "
        f"{_FONT}>{_number(t)}</text>"
        for t in y_ticks
    ]
    parts += [
        f"<text x='{px(t):.1f}' y='{top + plot_h + 16}' text-anchor='middle' {_FONT}>"
        f"{_number(t)}</text>"
        for t in x_ticks
    ]
    for i, (name, points) in enumerate(shown.items()):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        peak = max(y for _, y in points)
        parts.append(
            f"<polyline class='series' points='{path}' fill='none' stroke='{colour(name, i)}' "
            f"stroke-width='2'><title>{html.escape(name)}: peak {_number(peak)} "
            f"{html.escape(y_label)}</title></polyline>"
        )
    parts.append(
        f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' "
        "stroke='#374151'/>"
        f"<text x='{left + plot_w / 2:.0f}' y='{height - 6}' text-anchor='middle' {_FONT}>"
        f"{html.escape(x_label)}</text>"
        f"<text x='14' y='{top + plot_h / 2:.0f}' text-anchor='middle' {_FONT} "
        f"transform='rotate(-90 14 {top + plot_h / 2:.0f})'>{html.escape(y_label)}</text>"
    )
    parts.append(_legend(list(shown), left + plot_w + 16, top + 12))
    return (
        f"<svg class='chart' role='img' aria-label='{html.escape(title, quote=True)}' "
        f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"xmlns='http://www.w3.org/2000/svg'>{''.join(parts)}</svg>"
    )


def grouped_bars(
    title: str,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    unit: str,
    width: int = 760,
) -> str:
    """Horizontal bars: for each group (a row label) one bar per series, value at its end.
    A ``None`` value (the target did not run that group) leaves a gap."""
    names = list(series)
    bar, gap = 14, 10
    left, right, top = 230, 150, 10
    group_h = bar * max(1, len(names)) + gap
    height = top + group_h * len(groups) + 24
    plot_w = width - left - right
    values = [v for vs in series.values() for v in vs if v is not None]
    ticks = nice_ticks(max(values, default=1.0))
    scale = plot_w / ticks[-1]
    parts = [
        f"<line x1='{left + scale * t:.1f}' y1='{top}' x2='{left + scale * t:.1f}' "
        f"y2='{height - 24}' stroke='#e5e7eb'/><text x='{left + scale * t:.1f}' "
        f"y='{height - 8}' text-anchor='middle' {_FONT}>{_number(t)}</text>"
        for t in ticks
    ]
    for g, group in enumerate(groups):
        y0 = top + g * group_h
        parts.append(
            f"<text x='{left - 8}' y='{y0 + group_h / 2:.0f}' text-anchor='end' {_FONT}>"
            f"{html.escape(group)}</text>"
        )
        for s, name in enumerate(names):
            value = series[name][g] if g < len(series[name]) else None
            if value is None:
                continue
            y = y0 + s * bar
            parts.append(
                f"<rect class='bar' x='{left}' y='{y}' width='{max(scale * value, 1):.1f}' "
                f"height='{bar - 2}' fill='{colour(name, s)}'><title>{html.escape(name)}, "
                f"{html.escape(group)}: {_number(value)} {html.escape(unit)}</title></rect>"
                f"<text x='{left + scale * value + 4:.1f}' y='{y + bar - 4}' {_FONT}>"
                f"{_number(value)}</text>"
            )
    parts.append(_legend(names, width - right + 50, top + 12))
    return (
        f"<svg class='chart' role='img' aria-label='{html.escape(title, quote=True)}' "
        f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"xmlns='http://www.w3.org/2000/svg'>{''.join(parts)}</svg>"
    )
