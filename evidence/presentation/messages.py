"""Refusals and messages put into the reader's language where they are shown: web pages, the command line,
the API. One catalogue (evidence/translations), read without Flask so that the command line and jobs use it too.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from babel.support import NullTranslations, Translations

from evidence.core.errors import words
from evidence.core.vocabulary import LOCALES

TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"
SOURCE_LOCALE = "fr"  # the messages are written in French; other languages are translations of it


@lru_cache(maxsize=None)
def catalogue(locale: str) -> NullTranslations:
    if locale == SOURCE_LOCALE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [locale])


def render(value, locale: str) -> str:
    """A Message, a refusal (EvidenceError) or any value, in `locale`."""
    return words(value, catalogue(locale if locale in LOCALES else SOURCE_LOCALE).gettext)


def command_line_locale(environ: Mapping[str, str] = os.environ) -> str:
    """The language of a command's messages: EVIDENCE_LOCALE, else the POSIX locale variables in the order
    gettext reads them (LC_ALL, LC_MESSAGES, LANG); French for fr_*, English otherwise (C, POSIX, en_*…)."""
    chosen = environ.get("EVIDENCE_LOCALE", "").strip().lower()
    if chosen in LOCALES:
        return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"
