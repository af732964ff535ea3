"""OSCAL documents as bytes: the same data always gives the same bytes.

The builders put every list in a fixed order (the referential's, or sorted by natural key) and every object's keys
in OSCAL's order, which the JSON keeps; this writes them the one way: indented by two spaces, in UTF-8 with the
text as it is (`ensure_ascii=False`: « é » stays « é »), a newline at the end.
"""
from __future__ import annotations

import json


def dumps(document: dict) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
