"""Refusals and reports as an English reader sees them (the command line with EVIDENCE_LOCALE=en, the English
UI): the tests that pin their English wording read them through the catalogue, which checks it too."""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from evidence.presentation import messages


def english(value) -> str:
    """A refusal, a Message or any value in English."""
    return messages.render(value, "en")


@contextmanager
def refused(kind, pattern: str):
    """`pytest.raises(kind, match=pattern)`, the pattern searched in the English wording of the refusal."""
    with pytest.raises(kind) as caught:
        yield caught
    assert re.search(pattern, english(caught.value)), english(caught.value)
