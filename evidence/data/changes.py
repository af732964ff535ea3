"""What a transaction wrote, as a perimeter's status sees it: the evidence, controls and items whose status in
any perimeter its writes may change, or everything.

Recorded beside each data version (table data_change, data.database), so that a node holding a status computed
at an older version recomputes those items alone instead of the whole perimeter (services.status_cache): a user
editing one evidence used to make every perimeter's status be computed again on every node. Whatever this module
does not know reaches everything: a status patched wrongly would be a wrong answer, one recomputed whole only a
slower one.

An evidence or a control stands for every item it answers through its links, as they are when the status is
patched; a written link names both its ends, so that the items it answered before it changed are among them."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import inspect

# table -> its columns naming (an evidence, a control, an item): a written row of these tables reaches what they
# name, in every perimeter.
_ENDS = {
    "evidence": ("id", None, None),
    "evidence_version": ("evidence_id", None, None),
    "evidence_answer": ("evidence_id", None, "requirement_id"),
    "evidence_control": ("evidence_id", "control_id", None),
    "evidence_requirement": ("evidence_id", None, "requirement_id"),
    "evidence_perimeter": ("evidence_id", None, None),
    "control": (None, "id", None),
    "control_requirement": (None, "control_id", "requirement_id"),
    "control_perimeter": (None, "control_id", None),
    "verdict": (None, None, "requirement_id"),
    "entry_waiver": (None, None, "requirement_id"),
    "finding": (None, None, "requirement_id"),
    "applicability": (None, None, "requirement_id"),
}
# Removing an evidence or a control removes its links in the database (ON DELETE CASCADE), out of the ORM's sight.
_WHOLE_WHEN_DELETED = frozenset({"evidence", "control"})
# Tables no cached computation reads (services.status_cache): writing them alone bumps no data version, so it
# throws nothing away. The audit trail (a restore, a login write only there), the day's readiness figures (derived
# from the status, recorded as a dashboard is viewed), this module's own record, people's tokens, factors and
# notifications, requests and comments, actions, dossiers. A table a cached computation reads never belongs here.
UNREAD = frozenset({
    "audit_event", "audit_head", "readiness_snapshot", "data_change",
    "notification", "password_token", "login_failure", "api_token", "api_token_perimeter", "evidence_reader",
    "perimeter_document", "campaign", "perimeter_grant", "evidence_request", "request_evidence", "comment",
    "finding_evidence", "action", "action_requirement", "action_control", "action_finding", "dossier",
    "dossier_approval", "totp_factor", "recovery_code", "security_key",
})
# A status shows people by these alone (an owner's name and address, who decided an applicability).
_USER_COLUMNS = ("name", "email")
MAX_IDS = 1_000  # a transaction naming more than this reaches everything: recomputing whole is cheaper then


class Reach:
    """What one or more transactions reached: everything, or evidence, controls and items by id."""

    __slots__ = ("everything", "evidence", "controls", "items", "derived")

    def __init__(self, everything: bool = False):
        self.everything = everything
        self.evidence: set[int] = set()
        self.controls: set[int] = set()
        self.items: set[int] = set()
        self.derived: dict = {}  # what a reader worked out from it, kept for the next (services.gaps: the items)

    def __bool__(self) -> bool:
        return self.everything or bool(self.evidence or self.controls or self.items)

    def note(self, obj, deleted: bool = False) -> None:
        """A row the ORM is writing (new, changed or `deleted`)."""
        if self.everything:
            return
        state = inspect(obj)
        table = state.mapper.local_table.name
        if table == "user":
            # A new account owns nothing yet; a login, a password or a factor changes no status.
            if deleted or (not state.pending and any(state.attrs[column].history.deleted for column in _USER_COLUMNS)):
                self.everything = True
            return
        if table in UNREAD:
            return
        ends = _ENDS.get(table)
        if ends is None or (deleted and table in _WHOLE_WHEN_DELETED):
            self.everything = True
            return
        for ids, column in zip((self.evidence, self.controls, self.items), ends):
            if column is not None:
                # Before and after the change: the item a finding or a link named is reached as well as the new one.
                ids.update(value for value in (getattr(obj, column), *state.attrs[column].history.deleted)
                           if isinstance(value, int))
        if len(self.evidence) + len(self.controls) + len(self.items) > MAX_IDS:
            self.everything = True

    def as_json(self) -> dict:
        if self.everything:
            return {"all": True}
        return {"evidence": sorted(self.evidence), "controls": sorted(self.controls), "items": sorted(self.items)}

    @classmethod
    def union(cls, recorded: Iterable[dict]) -> "Reach":
        """What the recorded changes reached together (as_json's dicts)."""
        reach = cls()
        for change in recorded:
            if change.get("all"):
                return cls(everything=True)
            reach.evidence.update(change.get("evidence", ()))
            reach.controls.update(change.get("controls", ()))
            reach.items.update(change.get("items", ()))
        return reach
