"""Dates, numbers, sizes and shares as a reader of the current locale writes them, and French spacing.

Every function reads the current locale (flask_babel.get_locale(), which force_locale sets for the dossier), so
the same template prints "1er décembre 2026" and "1,2 Mo" in French and "1 December 2026" and "1.2 MB" in English.
Babel gives the patterns, separators and unit words; what it does not give is written here: the French ordinal
"1er" of a month's first day, the decimals of shares (only when the share is not whole) and French spacing
before punctuation.

Sizes are decimal (1 ko = 1 000 octets, 1 kB = 1,000 bytes): the units Babel names (ko, Mo, kB, MB) are the SI ones,
and a size printed in the dossier is compared with what a file browser shows, which is decimal on most systems.

Registered as Jinja filters on the application (register()), so the pages and the dossier's templates share them.
"""
from __future__ import annotations

import html
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from babel.dates import format_date
from babel.numbers import format_decimal
from babel.units import format_unit
from markupsafe import Markup

NBSP = "\u00a0"  # before : % » and after «
NNBSP = "\u202f"  # narrow: before ; ! ? and the French thousands separator
_FALLBACK_LOCALE = "fr"  # the application's first language, when no application context says otherwise


def current_locale() -> str:
    """The language of the words being written: Flask-Babel's locale, or French outside an application."""
    try:
        from flask_babel import get_locale

        locale = get_locale()
    except (RuntimeError, ImportError):  # no application context (a plain script, a pure test)
        locale = None
    return locale.language if locale is not None else _FALLBACK_LOCALE


def _french(locale: str | None) -> bool:
    return (locale or current_locale()).split("_")[0] == "fr"


def _as_date(value) -> date | None:
    """A date from a date, a datetime or an ISO string (date or date-time); None for nothing or nonsense."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text[:10]) if len(text) >= 10 else date.fromisoformat(text)
        except ValueError:
            return None
    return None


def long_date(value, locale: str | None = None) -> str:
    """ "1er décembre 2026", "2 décembre 2026" / "1 December 2026". A value that is no date is printed as given."""
    day = _as_date(value)
    if day is None:
        return "" if value is None else str(value)
    locale = locale or current_locale()
    if _french(locale):
        # French writes the first day of a month as an ordinal; Babel's patterns have no ordinal day.
        first = "1er" if day.day == 1 else str(day.day)
        return f"{first} {format_date(day, 'MMMM y', locale=locale)}"
    return format_date(day, "d MMMM y", locale=locale)


def short_date(value, locale: str | None = None) -> str:
    """ "01/12/2026" / "1 Dec 2026" (English without the ambiguous 12/1/26)."""
    day = _as_date(value)
    if day is None:
        return "" if value is None else str(value)
    locale = locale or current_locale()
    return format_date(day, "dd/MM/y" if _french(locale) else "d MMM y", locale=locale)


def _as_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return value
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def number(value, locale: str | None = None) -> str:
    """ "1 234" (narrow no-break space, Babel's French separator), "1,234"; up to three decimals, as Babel does."""
    n = _as_number(value)
    if n is None:
        return "" if value is None else str(value)
    return format_decimal(n, locale=locale or current_locale())


def percent(value, locale: str | None = None) -> str:
    """A share given in percent (11 means 11 %): "11 %" (no-break space) / "11%". Decimals only when the share is
    not whole, two at most ("12,5 %", "24,01 %"): the registers hold shares to the hundredth of a percent, and a
    share just above a threshold must not print as the threshold itself."""
    n = _as_number(value)
    if n is None:
        return "" if value is None else str(value)
    locale = locale or current_locale()
    digits = format_decimal(n, format="#,##0.##", locale=locale)
    return f"{digits}{NBSP}%" if _french(locale) else f"{digits}%"


_SIZE_UNITS = (
    (10**9, "digital-gigabyte"),
    (10**6, "digital-megabyte"),
    (10**3, "digital-kilobyte"),
)


def file_size(value, locale: str | None = None) -> str:
    """ "850 octets", "1,2 ko", "1,2 Mo" / "850 bytes", "1.2 kB", "1.2 MB" (decimal units, one decimal at most)."""
    n = _as_number(value)
    if n is None:
        return "" if value is None else str(value)
    locale = locale or current_locale()
    size = int(n)
    for factor, unit in _SIZE_UNITS:
        # Rounded first, so that 999 960 bytes reads "1 Mo" rather than "1 000 ko".
        if round(size / factor, 1) >= 1:
            return format_unit(round(size / factor, 1), unit, length="short", format="#,##0.#", locale=locale)
    # Below a kilo, the unit is spelled out: "850 octets", "1 octet" (Babel picks the plural form).
    return format_unit(size, "digital-byte", length="long", locale=locale)


# --- French spacing in an HTML document -------------------------------------------------------------------------

# Markup the spacing never enters: comments, declarations, processing instructions, elements whose text is code or
# is not text (script, style, pre, code, kbd, samp, textarea), and tags (with their attributes).
_MARKUP = re.compile(
    r"<!--.*?-->"
    r"|<(script|style|pre|code|kbd|samp|textarea)\b[^>]*>.*?</\1\s*>"
    r"|<![^>]*>|<\?.*?\?>"
    r"|</?[A-Za-z][^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*>",
    re.S | re.I,
)
_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)")
# Inline elements let a sentence run on ("<b>Statut</b> : actif"); any other tag ends it.
_INLINE = frozenset("a abbr b bdi bdo cite data dfn em i mark q s small span strong sub sup time u var wbr".split())
_TRIGGER = re.compile("[;:!?%«»]")
_WHITE = " \t\r\n"
_SPACES = "\u00a0\u202f\u2007\u2009\u200a"  # an existing fixed space is kept, never doubled
_OPENERS = "([{«“‘¿¡"
_CLOSERS = ")]}»”’\"'.,;:!?…"
_BEFORE = {";": NNBSP, "!": NNBSP, "?": NNBSP, ":": NBSP, "%": NBSP, "»": NBSP}


def _edits(s: str) -> list[tuple[int, int, int, str, str]]:
    """Where spacing goes in a run of text: (delete_from, delete_to, anchor, side, space) — the plain spaces in
    [delete_from, delete_to) are replaced by `space`, put before or after the character at `anchor`."""
    edits = []
    for m in _TRIGGER.finditer(s):
        i, c = m.start(), m.group()
        nxt = s[i + 1] if i + 1 < len(s) else ""
        if c == "«":
            k = i + 1
            while k < len(s) and s[k] in _WHITE:
                k += 1
            if k < len(s) and s[k] not in _SPACES and s[k] != "»":
                edits.append((i + 1, k, i, "after", NBSP))
            continue
        j = i
        while j > 0 and s[j - 1] in _WHITE:
            j -= 1
        prev = s[j - 1] if j > 0 else ""
        if not prev or prev in _SPACES or prev in _OPENERS:
            continue
        ends = not nxt or nxt in _WHITE or nxt in _SPACES or nxt in _CLOSERS or nxt == "<"
        if c in ":;" and (not ends or (nxt and nxt in ":;") or prev in ":;"):
            continue  # 10:30, https://, a;b, std::vector: not punctuation of a sentence
        if c in "!?" and (not ends or prev in "!?"):
            continue  # ?!: one space before the pair
        if c == "%" and (not prev.isdigit() or nxt.isalnum()):
            continue  # %20 in an address
        edits.append((j, i, i, "before", _BEFORE[c]))
    return edits


def _apply(tokens: list[list], run: list[int]) -> None:
    """Apply the spacing to a run of text tokens (list of [kind, raw, plain]) separated only by inline tags."""
    starts, s = [], ""
    for index in run:
        starts.append(len(s))
        s += tokens[index][2]
    if not _TRIGGER.search(s):
        return
    # Each edit as events on the run's text: a deletion [a, b) and an insertion at a position, the insertion
    # going to the token of its anchor character (before it: at the anchor; after it: just past it).
    events, taken = [], -1
    for a, b, anchor, side, space in _edits(s):
        if a <= taken:
            continue  # overlapping rules: the first one wins
        taken = max(b, anchor) if side == "before" else b - 1
        if b > a:
            events.append((a, b, None, None))
        events.append((anchor if side == "before" else anchor + 1, None, anchor, space))
    if not events:
        return
    events.sort(key=lambda e: e[0])
    for n, index in enumerate(run):
        start = starts[n]
        end = starts[n + 1] if n + 1 < len(run) else len(s)
        pieces, cur = [], start
        for pos, stop, anchor, space in events:
            if stop is not None:  # a deletion, clipped to this token
                a, b = max(pos, start), min(stop, end)
                if a < b:
                    pieces.append(s[cur:a])
                    cur = b
            elif start <= anchor < end:  # an insertion this token owns
                pieces.append(s[cur:pos])
                pieces.append(space)
                cur = max(cur, pos)
        pieces.append(s[cur:end])
        text = "".join(pieces)
        if text != tokens[index][2]:
            tokens[index][1] = html.escape(text, quote=False)


def french_spacing(document: str) -> str:
    """No-break spaces in the text of an HTML document, as French typography wants them: a narrow one (U+202F)
    before ; ! ? and a no-break one (U+00A0) before : and % and inside « », replacing a plain space where there is
    one and never doubling a fixed space already there. Tags, attributes, comments and the content of script,
    style, pre and code elements are left exactly as they are; so are colons and semicolons that do not end a
    phrase (10:30, https://) and percent signs of an address (%20)."""
    tokens: list[list] = []
    pos = 0
    for m in _MARKUP.finditer(document):
        if m.start() > pos:
            raw = document[pos:m.start()]
            tokens.append(["text", raw, html.unescape(raw) if "&" in raw else raw])
        tokens.append(["markup", m.group(), None])
        pos = m.end()
    if pos < len(document):
        raw = document[pos:]
        tokens.append(["text", raw, html.unescape(raw) if "&" in raw else raw])

    run: list[int] = []
    for index, token in enumerate(tokens):
        if token[0] == "text":
            run.append(index)
            continue
        name = _TAG_NAME.match(token[1])
        if name and name.group(1).lower() in _INLINE:
            continue  # the sentence goes on through <b>, <a>…
        if run:
            _apply(tokens, run)
        run = []
    if run:
        _apply(tokens, run)
    return "".join(token[1] for token in tokens)


def french_spacing_markup(value) -> Markup:
    """The filter form: escapes plain text first (autoescaping holds), then spaces it."""
    return Markup(french_spacing(str(Markup.escape(value))))


def unbroken(text) -> Markup:
    """A ref inside a sentence ("Mettre en œuvre CTL-GOV-03") that the line may not break at its hyphens."""
    return Markup('<span class="nowrap">{}</span>').format(text)


FILTERS = {
    "unbroken": unbroken,
    "long_date": long_date,
    "short_date": short_date,
    "file_size": file_size,
    "number": number,
    "percent": percent,
    "french_spacing": french_spacing_markup,
}


def register(app) -> None:
    """Make the filters available to every template of the application, the dossier's included: these and
    `word`, the one way a page names a code ({{ e.status|word("evidence_status") }})."""
    from evidence.presentation import audit_words, labels

    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.filters["word"] = labels.word
    app.jinja_env.filters["audit_details"] = audit_words.details
    app.jinja_env.filters["audit_action"] = audit_words.action_words
    app.jinja_env.filters["audit_object"] = audit_words.object_word
