"""Charts drawn on the server as SVG (no script, nothing to load): bars of two series per day, and lines of one
figure per series over days. Text is escaped; sizes are fixed so the page lays out before it is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 720, 220, 32
COLOURS = ["#4f46e5", "#16a34a", "#d97706", "#dc2626", "#0891b2", "#7c3aed"]


def bars(days: Sequence[str], series: dict[str, Sequence[float]], title: str) -> str:
    """Grouped bars, one group per day."""
    top = max([max(v, default=0) for v in series.values()] + [1])
    groups = max(len(days), 1)
    slot = (WIDTH - 2 * PAD) / groups
    width = max(slot / (len(series) + 1), 1)
    parts = [_frame(title, top)]
    for n, (name, values) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        for i, value in enumerate(values):
            h = (HEIGHT - 2 * PAD) * value / top
            x = PAD + i * slot + n * width + width / 2
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{width:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(days[i])}: {escape(name)} {value:g}</title></rect>"
            )
    parts += _legend(list(series)) + _axis(days)
    return _svg(title, parts)


def lines(days: Sequence[str], series: dict[str, Sequence[float | None]], title: str, low: float, high: float) -> str:
    """One line per series over the days, on a fixed scale [low, high] (gaps where a day has no value)."""
    span = (high - low) or 1
    step = (WIDTH - 2 * PAD) / max(len(days) - 1, 1)
    parts = [_frame(title, high, low)]
    for n, (name, values) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        points = [
            (PAD + i * step, HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - low) / span)
            for i, v in enumerate(values)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (x, y), v in zip(points, [v for v in values if v is not None], strict=True):
            dot = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
            parts.append(f"{dot}<title>{escape(name)} {v:.2f}</title></circle>")
    parts += _legend(list(series)) + _axis(days)
    return _svg(title, parts)


def _frame(title: str, top: float, bottom: float = 0) -> str:
    return (
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
        f'<text x="4" y="{PAD}" font-size="10" fill="#555">{top:g}</text>'
        f'<text x="4" y="{HEIGHT - PAD}" font-size="10" fill="#555">{bottom:g}</text>'
    )


def _legend(names: list[str]) -> list[str]:
    return [
        f'<rect x="{PAD + n * 140}" y="6" width="10" height="10" fill="{COLOURS[n % len(COLOURS)]}"/>'
        f'<text x="{PAD + n * 140 + 14}" y="15" font-size="11">{escape(name)}</text>'
        for n, name in enumerate(names)
    ]


def _axis(days: Sequence[str]) -> list[str]:
    if not days:
        return []
    step = (WIDTH - 2 * PAD) / max(len(days), 1)
    every = max(len(days) // 8, 1)
    return [
        f'<text x="{PAD + i * step:.1f}" y="{HEIGHT - 10}" font-size="10" fill="#555">{escape(day[5:])}</text>'
        for i, day in enumerate(days)
        if i % every == 0
    ]


def _svg(title: str, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )
