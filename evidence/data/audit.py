"""The hash-chained audit trail.

Each event's hash covers the previous event's hash and a canonical JSON of the event, so editing, removing
or reordering any event breaks the chain from that point on. The single `audit_head` row holds the last
sequence number and hash: appending updates it first (a row lock on PostgreSQL, the write lock on SQLite),
which serialises concurrent writers, and verification compares it with the last event so that events cut
from the end are noticed too.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timezone
from typing import Iterable, Optional, Union

from sqlalchemy import text, update
from sqlmodel import Session, select

from evidence.data.models import AuditEvent, AuditHead, User, utcnow

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "system"

# Who acted: a user, a label for a non-user actor (e.g. "cli:root"), or None for the system itself.
Actor = Union[User, str, None]


def canonical(event: AuditEvent) -> bytes:
    # actor_id stays out: it is a convenience link for filtering (set to NULL if a user row ever goes),
    # while `actor` records who acted, as text, inside the hash.
    body = {
        "seq": event.seq,
        "at": event.at.astimezone(timezone.utc).isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


def describe(obj) -> tuple[Optional[str], Optional[str]]:
    """(object_type, object_id) for a model instance: its table and its business reference when it has one."""
    if obj is None:
        return None, None
    object_type = obj.__tablename__
    for attr in ("ref", "code", "email"):
        value = getattr(obj, attr, None)
        if value:
            return object_type, str(value)
    return object_type, str(obj.id)


def diff(obj, values: dict) -> dict:
    """{field: [old, new]} for the fields `values` would change on `obj`: the details of an update event."""

    def plain(value):
        return value.isoformat() if hasattr(value, "isoformat") else value

    return {k: [plain(getattr(obj, k)), plain(v)] for k, v in values.items() if getattr(obj, k) != v}


def record(
    session: Session,
    actor: Actor,
    action: str,
    obj=None,
    details: Optional[dict] = None,
    *,
    object_type: Optional[str] = None,
    object_id: Optional[str] = None,
) -> AuditEvent:
    """Append an event in the caller's transaction; it commits or rolls back with the change it records."""
    if obj is not None:
        object_type, object_id = describe(obj)
    return record_many(session, actor, [(action, object_type, object_id, details)])[0]


def record_many(session: Session, actor: Actor, entries: list[tuple]) -> list[AuditEvent]:
    """Append several events (action, object_type, object_id, details) at once: one claim on the head for
    the lot, then one insert. Bulk work (imports) pays the chain's locking once per batch, not per row."""
    if not entries:
        return []
    session.flush()  # ids exist, and this transaction's own writes come first
    claimed = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + len(entries))
    )
    if claimed.rowcount != 1:
        raise RuntimeError("the audit head row is missing: run `evidence init` to migrate the database")
    last_seq, prev_hash = session.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    at = utcnow()
    events = []
    for offset, (action, object_type, object_id, details) in enumerate(entries):
        event = AuditEvent(
            seq=last_seq - len(entries) + 1 + offset,
            at=at,
            actor_id=actor.id if isinstance(actor, User) else None,
            actor=actor.email if isinstance(actor, User) else (actor or SYSTEM_ACTOR),
            action=action,
            object_type=object_type,
            object_id=object_id[:254] if object_id else object_id,
            details=details or {},
            prev_hash=prev_hash,
        )
        event.hash = prev_hash = event_hash(event)
        events.append(event)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev_hash))
    session.add_all(events)
    return events


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str  # modified | removed | reordered | truncated

    def __str__(self) -> str:
        messages = {
            "modified": f"audit event #{self.seq} was modified (its hash does not match its content)",
            "removed": f"audit event #{self.seq} was removed",
            "reordered": f"audit event #{self.seq} is out of order (it does not follow the event before it)",
            "truncated": f"audit events after #{self.seq} were removed",
        }
        return messages[self.problem]


def check_chain(events: Iterable[AuditEvent], head_seq: int, head_hash: str) -> Optional[ChainProblem]:
    """The first break in a chain of events given in sequence order, or None when it is intact."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    for event in events:
        if event.seq != expected_seq:
            return ChainProblem(expected_seq, "removed")
        if event.prev_hash != prev_hash:
            # A predecessor was rewritten with a fresh hash, or two events traded places.
            return ChainProblem(event.seq, "reordered")
        if event_hash(event) != event.hash:
            return ChainProblem(event.seq, "modified")
        expected_seq, prev_hash = expected_seq + 1, event.hash
    last_seq = expected_seq - 1
    if head_seq > last_seq:
        return ChainProblem(last_seq, "truncated")
    if head_hash != prev_hash:
        return ChainProblem(last_seq, "modified")
    return None


def verify(session: Session) -> tuple[int, Optional[ChainProblem]]:
    """(number of events checked, first problem or None), streaming the log in sequence order."""
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    count = 0

    def stream():
        nonlocal count
        result = session.execute(
            select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)
        ).scalars()
        for event in result:
            count += 1
            yield event

    problem = check_chain(stream(), head_seq, head_hash)
    return count, problem
