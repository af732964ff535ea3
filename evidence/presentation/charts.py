"""Charts as server-rendered SVG: no JavaScript, no library, and the same markup in pages and the dossier.

Functions return markup whose every text is escaped; templates mark it safe.
"""
from __future__ import annotations

import textwrap
from datetime import date
from html import escape
from typing import Sequence

from flask_babel import gettext as _

from evidence.core.rules import Readiness
from evidence.presentation import typography

GREEN, AMBER, RED, GREY, INK, MUTED = "#1d6b3a", "#b7791f", "#a4161a", "#d5dae1", "#1b1f24", "#5a6370"


def _text(x, y, content, size=11, anchor="start", fill=INK, weight="normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}" font-family="DejaVu Sans, sans-serif">{escape(str(content))}</text>')


# The label column holds a chapter's name on up to LABEL_LINES lines of LABEL_CHARS characters, wrapped at words:
# SecNumCloud's chapter names run to 80 characters ("Critères supplémentaires pour la protection vis-à-vis du
# droit extra-européen") and a cut name is no name. DejaVu Sans at 11 px averages under 6.6 px a character, so
# 44 characters fit the 300 px column.
LABEL_W, LABEL_CHARS, LABEL_LINES, LINE_H = 300, 44, 3, 13


def wrap_label(label: str, width: int = LABEL_CHARS, lines: int = LABEL_LINES) -> list[str]:
    """A label on at most `lines` lines of `width` characters, broken between words; what still does not fit ends
    the last line with an ellipsis (a single word longer than a line is broken where it must be)."""
    wrapped = textwrap.wrap(label, width=width, break_long_words=True, break_on_hyphens=False) or [""]
    if len(wrapped) <= lines:
        return wrapped
    last = " ".join(wrapped[lines - 1:])
    return wrapped[:lines - 1] + [last[:width - 1].rstrip() + "…"]


def chapter_bars(chapters: Sequence[tuple[str, str, Readiness]], title: str, width: int = 640) -> str:
    """Horizontal bars, one per chapter: (ref, title, readiness) → covered share of applicable items.
    Each row is as tall as its wrapped label; the bar sits level with the label's first line."""
    top, label_w, value_w = 28, LABEL_W, 100
    bar_w = width - label_w - value_w
    rows = [(wrap_label(f"{ref}. {name}" if name else str(ref)), readiness) for ref, name, readiness in chapters]
    heights = [max(22, LINE_H * len(lines) + 9) for lines, _readiness in rows]
    height = top + sum(heights) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'role="img" aria-label="{escape(title)}" class="chart">', f"<title>{escape(title)}</title>",
             _text(0, 16, title, size=13, weight="bold")]
    y = top
    for (lines, readiness), row_h in zip(rows, heights):
        colour = GREEN if readiness.ratio >= 0.8 else AMBER if readiness.ratio >= 0.5 else RED
        parts.append(_lines(0, y + 14, lines, size=11))
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="13" rx="2" fill="{GREY}"/>')
        if readiness.applicable:
            parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{bar_w * readiness.ratio:.1f}" height="13" rx="2" fill="{colour}"/>')
        share = typography.percent(readiness.percent)
        counts = f"{typography.number(readiness.covered)}/{typography.number(readiness.applicable)}"
        parts.append(_text(width - 4, y + 15, f"{share} ({counts})", size=11, anchor="end", fill=MUTED))
        y += row_h
    parts.append("</svg>")
    return "".join(parts)


def _lines(x, y, lines: Sequence[str], size=11, fill=INK) -> str:
    """A multi-line text: one <tspan> a line, each escaped."""
    spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else LINE_H}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" '
            f'font-family="DejaVu Sans, sans-serif">{spans}</text>')


def trend_line(points: Sequence[tuple[date, float]], title: str, width: int = 640, height: int = 130) -> str:
    """Readiness over time (share 0..1 per day). Below two points there is no line to draw: a single dot in an
    empty frame reads as a broken chart, so the chart says that history is still too short."""
    if len(points) < 2:
        return _too_short(title, width)
    left, right, top, bottom = 44, 10, 24, 22  # room for "100 %" at the left of the axis
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'role="img" aria-label="{escape(title)}" class="chart">', f"<title>{escape(title)}</title>",
             _text(0, 14, title, size=13, weight="bold")]
    for share in (0, 0.5, 1):
        y = top + plot_h * (1 - share)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GREY}" stroke-width="1"/>')
        parts.append(_text(left - 4, y + 4, typography.percent(int(share * 100)), size=10, anchor="end", fill=MUTED))
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
        parts.append(_text(left, height - 6, typography.short_date(first), size=10, fill=MUTED))
        if len(points) > 1:
            parts.append(_text(width - right, height - 6, typography.short_date(last), size=10, anchor="end",
                               fill=MUTED))
    parts.append("</svg>")
    return "".join(parts)


def _too_short(title: str, width: int) -> str:
    message = _("Pas encore assez d’historique : la courbe apparaît à partir de deux relevés (un par jour).")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 48" width="100%" role="img" '
            f'aria-label="{escape(title)}" class="chart chart-empty"><title>{escape(title)}</title>'
            + _text(0, 14, title, size=13, weight="bold") + _text(0, 38, message, size=11, fill=MUTED) + "</svg>")
