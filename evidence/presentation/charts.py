"""Charts as server-rendered SVG: no JavaScript, no library, and the same markup in pages and the dossier.

Functions return markup whose every text is escaped; templates mark it safe.
"""
from __future__ import annotations

from datetime import date
from html import escape
from typing import Sequence

from evidence.core.rules import Readiness

GREEN, AMBER, RED, GREY, INK, MUTED = "#1d6b3a", "#b7791f", "#a4161a", "#d5dae1", "#1b1f24", "#5a6370"


def _text(x, y, content, size=11, anchor="start", fill=INK, weight="normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}" font-family="DejaVu Sans, sans-serif">{escape(str(content))}</text>')


def chapter_bars(chapters: Sequence[tuple[str, str, Readiness]], title: str, width: int = 640) -> str:
    """Horizontal bars, one per chapter: (ref, title, readiness) → covered share of applicable items."""
    row, top, label_w, value_w = 22, 28, 250, 90
    bar_w = width - label_w - value_w
    height = top + row * len(chapters) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'role="img" aria-label="{escape(title)}" class="chart">', f"<title>{escape(title)}</title>",
             _text(0, 16, title, size=13, weight="bold")]
    for i, (ref, name, readiness) in enumerate(chapters):
        y = top + i * row
        label = f"{ref}. {name}"
        if len(label) > 38:
            label = label[:37] + "…"
        colour = GREEN if readiness.ratio >= 0.8 else AMBER if readiness.ratio >= 0.5 else RED
        parts.append(_text(0, y + 14, label, size=11))
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="13" rx="2" fill="{GREY}"/>')
        if readiness.applicable:
            parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{bar_w * readiness.ratio:.1f}" height="13" rx="2" fill="{colour}"/>')
        parts.append(_text(width - 4, y + 15, f"{readiness.percent} % ({readiness.covered}/{readiness.applicable})",
                           size=11, anchor="end", fill=MUTED))
    parts.append("</svg>")
    return "".join(parts)


def trend_line(points: Sequence[tuple[date, float]], title: str, width: int = 640, height: int = 130) -> str:
    """Readiness over time (share 0..1 per day)."""
    left, right, top, bottom = 36, 10, 24, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'role="img" aria-label="{escape(title)}" class="chart">', f"<title>{escape(title)}</title>",
             _text(0, 14, title, size=13, weight="bold")]
    for share in (0, 0.5, 1):
        y = top + plot_h * (1 - share)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GREY}" stroke-width="1"/>')
        parts.append(_text(left - 4, y + 4, f"{int(share * 100)} %", size=10, anchor="end", fill=MUTED))
    if points:
        first, last = points[0][0], points[-1][0]
        span = max((last - first).days, 1)

        def xy(day: date, share: float) -> tuple[float, float]:
            x = left + plot_w * ((day - first).days / span if len(points) > 1 else 0.5)
            return x, top + plot_h * (1 - share)

        coords = [xy(day, share) for day, share in points]
        parts.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
            GREEN, " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)))
        for x, y in coords:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{GREEN}"/>')
        parts.append(_text(left, height - 6, first.isoformat(), size=10, fill=MUTED))
        if len(points) > 1:
            parts.append(_text(width - right, height - 6, last.isoformat(), size=10, anchor="end", fill=MUTED))
    parts.append("</svg>")
    return "".join(parts)
