"""A perimeter's dossier versions as the dossier's history lists them: date, author, approvers, SHA-256 and
what changed since the version before (computed from the two snapshots, diff.changes).

Only rendered versions count (a draft or an approved one): a queued, rendering or failed version was never
handed to anyone.
"""
from __future__ import annotations

from datetime import timezone
from typing import Optional

from sqlmodel import Session, select

from evidence.core.vocabulary import RENDERED_DOSSIER_STATUSES
from evidence.data.models import AuditEvent, Dossier, DossierApproval, Perimeter, User
from evidence.dossier.diff import changes  # noqa: F401  (re-exported: the snapshot calls history.changes)


def iso(value) -> Optional[str]:
    """A stored time as ISO 8601 in UTC, to the second (what the dossier and the diff print)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def rendered(session: Session, perimeter: Perimeter, before: Optional[int] = None) -> list[Dossier]:
    """The perimeter's rendered versions (number < before when given), oldest first."""
    query = select(Dossier).where(Dossier.perimeter_id == perimeter.id,
                                  Dossier.status.in_(RENDERED_DOSSIER_STATUSES))
    if before is not None:
        query = query.where(Dossier.number < before)
    return list(session.exec(query.order_by(Dossier.number)))


def approvals(session: Session, dossier_ids: list[int]) -> dict[int, list[dict]]:
    """The approvals of these versions, in the order they were given, as the dossier prints them."""
    found: dict[int, list[dict]] = {i: [] for i in dossier_ids}
    if not dossier_ids:
        return found
    for row in session.exec(select(DossierApproval).where(DossierApproval.dossier_id.in_(dossier_ids))
                            .order_by(DossierApproval.approved_at, DossierApproval.id)):
        found[row.dossier_id].append({"name": row.name, "function": row.function, "approved_at": iso(row.approved_at)})
    return found


def authors(session: Session, perimeter: Perimeter, versions: list[Dossier]) -> dict[int, str]:
    """Who asked for each version: the user's name, or, for a version asked for on the command line (no user),
    the actor its queue event names (e.g. "cli:root")."""
    ids = [d.author_id for d in versions if d.author_id]
    names = {u.id: u.name for u in session.exec(select(User).where(User.id.in_(ids)))} if ids else {}
    found = {d.id: names.get(d.author_id, "") for d in versions}
    unnamed = {f"{perimeter.code}-v{d.number}": d.id for d in versions if not found[d.id]}
    if unnamed:
        for event in session.exec(select(AuditEvent).where(AuditEvent.action == "dossier.queue",
                                                           AuditEvent.object_id.in_(list(unnamed)))):
            found[unnamed[event.object_id]] = event.actor
    return found


def entries(session: Session, perimeter: Perimeter, before: Optional[int] = None) -> list[dict]:
    """Every earlier rendered version (number < before), oldest first, each with what changed since the one
    before it (None for the first)."""
    versions = rendered(session, perimeter, before)
    given = approvals(session, [d.id for d in versions])
    names = authors(session, perimeter, versions)
    result, previous = [], None
    for dossier in versions:
        result.append({
            "number": dossier.number, "created_at": iso(dossier.created_at), "author": names[dossier.id],
            "status": dossier.status, "approved_at": iso(dossier.approved_at), "approvals": given[dossier.id],
            "sha256": dossier.sha256, "language": dossier.language,
            # The evaluation campaign that version was for (None before campaigns, or without one).
            "campaign": (dossier.snapshot or {}).get("campaign"),
            "changes": changes(previous, dossier.snapshot) if previous is not None else None,
        })
        previous = dossier.snapshot
    return result


def last_snapshot(session: Session, perimeter: Perimeter, before: Optional[int] = None) -> Optional[dict]:
    """The snapshot of the latest rendered version (number < before when given), None when there is none:
    what a new version's changes are counted from."""
    query = select(Dossier).where(Dossier.perimeter_id == perimeter.id, Dossier.status.in_(RENDERED_DOSSIER_STATUSES))
    if before is not None:
        query = query.where(Dossier.number < before)
    latest = session.exec(query.order_by(Dossier.number.desc()).limit(1)).first()
    return latest.snapshot if latest else None


def version(session: Session, perimeter: Perimeter, number: int) -> Optional[Dossier]:
    """Version `number` of the perimeter's dossier, whatever its state."""
    return session.exec(select(Dossier).where(Dossier.perimeter_id == perimeter.id, Dossier.number == number)).first()
