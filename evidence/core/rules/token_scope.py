"""Which objects a perimeter-limited credential reaches: an API token limited to perimeters, an auditor or an
evaluator granted some (and a token of theirs: both limits at once).

Pure: the callers gather the perimeters an object belongs to (an evidence's scope, where a control is deployed, a
finding's perimeter) and ask here, so that every boundary draws the line at the same place.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Optional

from evidence.core.vocabulary import EVALUATOR, SCOPED_ROLES


@dataclass(frozen=True)
class PerimeterScope:
    """The perimeters a credential is limited to; `perimeter_ids` None: every perimeter (no limit)."""

    perimeter_ids: Optional[frozenset[int]] = None

    @property
    def limited(self) -> bool:
        return self.perimeter_ids is not None

    def reaches(self, object_perimeter_ids: Iterable[int]) -> bool:
        """Whether an object of these perimeters is within the scope: an unlimited scope reaches everything; a
        limited one, an object that belongs to at least one of its perimeters (an object of no perimeter — evidence
        valid nowhere yet, a control deployed nowhere — is beyond every limited scope)."""
        if self.perimeter_ids is None:
            return True
        return not self.perimeter_ids.isdisjoint(object_perimeter_ids)

    def outside(self, perimeter_ids: Iterable[int]) -> list[int]:
        """The perimeters among `perimeter_ids` a write may not name (sorted): those beyond a limited scope."""
        if self.perimeter_ids is None:
            return []
        return sorted(set(perimeter_ids) - self.perimeter_ids)


UNLIMITED = PerimeterScope()


def narrowed(first: PerimeterScope, second: PerimeterScope) -> PerimeterScope:
    """What both scopes reach: a token's perimeters within its account's grants."""
    if first.perimeter_ids is None:
        return second
    if second.perimeter_ids is None:
        return first
    return PerimeterScope(first.perimeter_ids & second.perimeter_ids)


def granted_scope(role: str, grants: Iterable[tuple[int, Optional[date]]], today: date) -> PerimeterScope:
    """The perimeters a person reaches. The provider's team: every one. An auditor (internal): every one while
    granted none, else those granted. An evaluator (the evaluation centre's): only those granted. A grant runs up
    to and including its `until` day (a campaign's last day): the day after, it reaches nothing any more.
    `grants`: (perimeter id, until or None)."""
    if role not in SCOPED_ROLES:
        return UNLIMITED
    grants = list(grants)
    if role != EVALUATOR and not grants:
        return UNLIMITED
    return PerimeterScope(frozenset(perimeter_id for perimeter_id, until in grants if grant_running(until, today)))


def grant_running(until: Optional[date], today: date) -> bool:
    return until is None or today <= until
