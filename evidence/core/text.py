"""Comparing and ordering people's words the way a French reader expects: accents and case do not matter to a
search ("elodie" finds "Élodie"), and "Élodie" sorts among the E, not after Z. Pure, no locale database needed.
"""
from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# Letters that NFKD does not split into a base letter and an accent.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss", "ø": "o", "Ø": "o", "đ": "d",
                            "ł": "l", "Ł": "l", "’": "'", "‘": "'"})


def fold(text: str | None) -> str:
    """`text` without accents, case or repeated spaces: the form searches and sorting compare."""
    decomposed = unicodedata.normalize("NFKD", (text or "").translate(_LIGATURES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare.casefold()).strip()


def sort_key(text: str | None) -> tuple[str, str]:
    """Order by the folded text, then by the text itself so that "Eric" and "Éric" keep a stable order."""
    return fold(text), text or ""


def matches(query: str | None, *texts: str | None) -> bool:
    """Every word of `query` appears in one of `texts`, accents and case aside (an empty query matches)."""
    haystack = " ".join(fold(t) for t in texts)
    return all(word in haystack for word in fold(query).split())
