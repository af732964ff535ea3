"""Comments: who edits or deletes one, and whom its text mentions.

Pure. A comment is its author's words: only he changes them. A deletion is also open to a compliance manager
(moderation of the perimeter's threads), and it is never silent: the thread says who deleted it and when.
"""
from __future__ import annotations

import re
from typing import Optional

from evidence.core.vocabulary import COMPLIANCE_ROLES

# `@` then an e-mail address: "@alice@example.org". The address ends before a character an address does not end
# with ("@alice@example.org," or "(@bob@example.org)" mention alice and bob).
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")


def mentions(body: str) -> list[str]:
    """The addresses mentioned, lower-cased, each once, in the order they first appear."""
    return list(dict.fromkeys(match.group(1).lower() for match in MENTION.finditer(body or "")))


def new_mentions(before: str, after: str) -> list[str]:
    """The addresses an edit adds (those already mentioned were told when they were)."""
    told = set(mentions(before))
    return [address for address in mentions(after) if address not in told]


def may_edit(actor_id: Optional[int], author_id: Optional[int], deleted: bool) -> bool:
    return not deleted and actor_id is not None and actor_id == author_id


def may_delete(actor_role: Optional[str], actor_id: Optional[int], author_id: Optional[int], deleted: bool) -> bool:
    if deleted or actor_id is None:
        return False
    return actor_id == author_id or actor_role in COMPLIANCE_ROLES
