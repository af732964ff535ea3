"""Comparing and ordering people's words the way a French reader expects: accents and case do not matter to a
search ("elodie" finds "Élodie"), and "Élodie" sorts among the E, not after Z. Pure, no locale database needed.
"""
from __future__ import annotations

import functools
import re
import unicodedata

from evidence.core.errors import N_, EvidenceError, Message

_SPACES = re.compile(r"\s+")
# Letters that NFKD does not split into a base letter and an accent.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss", "ø": "o", "Ø": "o", "đ": "d",
                            "ł": "l", "Ł": "l", "’": "'", "‘": "'"})


MAX_ID = 2**31 - 1  # the largest id a row may have (an INTEGER column on PostgreSQL)


def plain_id(value) -> int | None:
    """The id a form or an address gives, or None for anything that is not a plain, storable number ("²" and
    "٣" are digits to str.isdigit, and int() takes them: they are not ids)."""
    text = str(value if value is not None else "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 11 and int(text) <= MAX_ID else None


def fold(text: str | None) -> str:
    """`text` without accents, case or repeated spaces: the form searches and sorting compare."""
    decomposed = unicodedata.normalize("NFKD", (text or "").translate(_LIGATURES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare.casefold()).strip()


def sort_key(text: str | None) -> tuple[str, str]:
    """Order by the folded text, then by the text itself so that "Eric" and "Éric" keep a stable order."""
    return fold(text), text or ""


MAX_SEARCH_WORDS = 12  # a search's words beyond these are not looked for: each one costs a pass over every text
MAX_SEARCH_WORD = 100


@functools.lru_cache(maxsize=64)  # a list filters every row with the same query: its words are worked out once
def search_words(query: str | None) -> tuple[str, ...]:
    """The words a search looks for, folded: each once, none that a longer one contains (every word must appear,
    so "ab" already asks for "a"), the longest first, at most MAX_SEARCH_WORDS of at most MAX_SEARCH_WORD
    characters. A hundred one-letter words cost no more than the letters they are."""
    words = sorted({w[:MAX_SEARCH_WORD] for w in fold((query or "")[:MAX_SEARCH_WORDS * (MAX_SEARCH_WORD + 1)]).split()},
                   key=lambda w: (-len(w), w))
    kept: list[str] = []
    for word in words:
        if not any(word in longer for longer in kept):
            kept.append(word)
            if len(kept) == MAX_SEARCH_WORDS:
                break
    return tuple(kept)


def matches(query: str | None, *texts: str | None) -> bool:
    """Every word of `query` appears in one of `texts`, accents and case aside (an empty query matches)."""
    haystack = " ".join(fold(t) for t in texts)
    return all(word in haystack for word in search_words(query))


def bounded(value: str | None, limit: int, label: str, field: str) -> str:
    """The text a person or a file gives for the field `field` (named `label`, an N_ message id), stripped; past
    `limit` characters refused, never cut: a cut text would say less than its author meant, and nobody would know.
    Every service calls it for each free text it stores, whatever the door (form, import, command line), so that
    a form's own check is only the early warning of the same limit."""
    text = (value or "").strip()
    if len(text) > limit:
        raise EvidenceError(N_("%(label)s : %(n)s caractères, %(limit)s au plus"), label=Message(label), n=len(text),
                            limit=limit, field=field)
    return text
