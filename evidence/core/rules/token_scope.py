"""Which objects a perimeter-limited credential reaches (an API token today; a perimeter-scoped evaluator later).

Pure: the callers gather the perimeters an object belongs to (an evidence's scope, where a control is deployed, a
finding's perimeter) and ask here, so that every boundary draws the line at the same place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional


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
