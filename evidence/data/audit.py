"""The hash-chained audit trail.

Each event's hash covers the previous event's hash and a canonical JSON of the event, so editing, removing
or reordering any event breaks the chain from that point on. The single `audit_head` row holds the last
sequence number and hash: appending updates it first (a row lock on PostgreSQL, the write lock on SQLite),
which serialises concurrent writers, and verification compares it with the last event so that events cut
from the end are noticed too.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timezone
from types import SimpleNamespace
from typing import Iterable, Optional, Union

from sqlalchemy import func, insert, text, update
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError
from evidence.data.models import AuditEvent, AuditHead, User, utcnow

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "system"

SEAL_KEY_LABEL = b"evidence audit seal v1"
_SEAL_KEYS: dict[str, bytes] = {}  # database URL -> seal key; one instance (one SECRET_KEY) per database


def derive_seal_key(secret_key) -> Optional[bytes]:
    """The seal key of an instance, from its SECRET_KEY (None without one: events are then left unsealed)."""
    if not secret_key:
        return None
    secret = secret_key if isinstance(secret_key, bytes) else str(secret_key).encode()
    return hmac.new(secret, SEAL_KEY_LABEL, hashlib.sha256).digest()


def _url_key(url) -> str:
    return url.render_as_string(hide_password=False) if hasattr(url, "render_as_string") else str(url)


def use_seal_key(engine, key: Optional[bytes]) -> None:
    """Seal every event recorded through `engine` and, when no app made theirs, through any other engine to the
    same database (a command's or a test's own engine, an Alembic connection)."""
    if key:
        engine.evidence_seal_key = key
        _SEAL_KEYS[_url_key(engine.url)] = key


def seal_key_for(session: Session) -> Optional[bytes]:
    bind = session.get_bind()
    return seal_key_for_engine(getattr(bind, "engine", bind))


def seal_key_for_engine(engine) -> Optional[bytes]:
    return getattr(engine, "evidence_seal_key", None) or _SEAL_KEYS.get(_url_key(engine.url))


def before_seals(session: Session) -> bool:
    """Whether the schema predates the seal columns: a migration older than 0009 recording events on its own
    connection (sessions of the app are bound to an engine, whose schema is current)."""
    from sqlalchemy import inspect

    bind = session.get_bind()
    return bind is not getattr(bind, "engine", bind) and not any(
        column["name"] == "seal" for column in inspect(bind).get_columns("audit_event"))


def key_id(key: bytes) -> str:
    """Names a key without revealing it: which key sealed a kept head."""
    return hmac.new(key, b"key id", hashlib.sha256).hexdigest()[:16]


def event_seal(key: bytes, hash_: str) -> str:
    return hmac.new(key, hash_.encode(), hashlib.sha256).hexdigest()


def head_seal(key: bytes, seq: int, hash_: str) -> str:
    return hmac.new(key, f"{seq}:{hash_}".encode(), hashlib.sha256).hexdigest()


# Who acted: a user, a label for a non-user actor (e.g. "cli:root"), or None for the system itself.
Actor = Union[User, str, None]

# The API token a request acts through (set by the API's request hook): every event recorded meanwhile names it,
# so each service's own event says which token made the change without any service knowing of tokens.
_ACTING_THROUGH: ContextVar[Optional[str]] = ContextVar("evidence_audit_token", default=None)


@contextmanager
def acting_through(token_name: Optional[str]):
    """Within this block, every event recorded carries `"token": token_name` in its details."""
    reset = _ACTING_THROUGH.set(token_name)
    try:
        yield
    finally:
        _ACTING_THROUGH.reset(reset)


def set_acting_through(token_name: Optional[str]):
    """The same as `acting_through`, for a request hook that cannot wrap the view in a block; returns what
    `reset_acting_through` takes back at the request's end."""
    return _ACTING_THROUGH.set(token_name)


def reset_acting_through(reset) -> None:
    _ACTING_THROUGH.reset(reset)


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
) -> SimpleNamespace:
    """Append an event in the caller's transaction; it commits or rolls back with the change it records."""
    if obj is not None:
        object_type, object_id = describe(obj)
    return record_many(session, actor, [(action, object_type, object_id, details)])[0]


def record_many(session: Session, actor: Actor, entries: list[tuple]) -> list[SimpleNamespace]:
    """Append several events (action, object_type, object_id, details) at once: one claim on the head for
    the lot, then one insert. Bulk work (imports) pays the chain's locking once per batch, not per row.

    The events are inserted as plain rows, not ORM objects (nothing reads them back in the transaction that
    writes them, and an import writes thousands); each is returned with its columns as attributes."""
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
    legacy = before_seals(session)
    key = None if legacy else seal_key_for(session)
    token = _ACTING_THROUGH.get()
    events = []
    for offset, (action, object_type, object_id, details) in enumerate(entries):
        if token is not None:
            details = {**(details or {}), "token": token}
        event = SimpleNamespace(
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
        event.seal = event_seal(key, event.hash) if key is not None else None
        events.append(event)
    sealed = {"seal": head_seal(key, last_seq, prev_hash)} if key is not None else {}  # none before migration 0009
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev_hash, **sealed))
    # Before migration 0009 the table has no seal column: the columns that exist only.
    columns = [c.name for c in AuditEvent.__table__.columns if c.name != "id" and not (legacy and c.name == "seal")]
    session.execute(insert(AuditEvent.__table__), [{c: getattr(e, c) for c in columns} for e in events])
    return events


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str  # modified | removed | reordered | truncated | unsealed | seal_missing | head_unsealed
    #               | not_in_chain | checkpoint_differs | checkpoint_unsealed

    def __str__(self) -> str:
        messages = {
            "modified": f"audit event #{self.seq} was modified (its hash does not match its content)",
            "removed": f"audit event #{self.seq} was removed",
            "reordered": f"audit event #{self.seq} is out of order (it does not follow the event before it)",
            "truncated": f"audit events after #{self.seq} were removed",
            "unsealed": f"audit event #{self.seq} is not sealed by this instance's key: the chain was rewritten "
                        f"from it",
            "seal_missing": f"audit event #{self.seq} has no seal: the chain was rewritten from it (seals removed)",
            "head_unsealed": f"the audit head #{self.seq} is not sealed by this instance's key",
            "not_in_chain": f"the kept audit head #{self.seq} is beyond the chain: events were removed",
            "checkpoint_differs": f"audit event #{self.seq} differs from the kept head: the chain was rewritten",
            "checkpoint_unsealed": f"the kept audit head #{self.seq} is not sealed by this instance's key",
        }
        return messages[self.problem]


@dataclass
class ChainReport:
    """What the walk found: the events checked, the first problem, and what the seals said."""

    events: int = 0
    problem: Optional[ChainProblem] = None
    seals_checked: bool = False  # False without the instance's key: the chain alone was checked
    sealed_elsewhere: int = 0  # events before a forced restore, sealed by the key of the instance backed up


def check_chain(events: Iterable[AuditEvent], head_seq: int, head_hash: str, *, key: Optional[bytes] = None,
                head_seal_value: Optional[str] = None, report: Optional[ChainReport] = None,
                sealed_elsewhere_before: int = 0) -> Optional[ChainProblem]:
    """The first break in a chain of events given in sequence order, or None when it is intact. With `key`, every
    seal is checked too, but for the events before `sealed_elsewhere_before` (a restore forced without the
    backed-up instance's key, see `forced_restore`), whose hashes alone are checked, and counted in `report`."""
    report = report if report is not None else ChainReport()
    report.seals_checked = key is not None
    expected_seq, prev_hash = 1, GENESIS_HASH
    for event in events:
        if event.seq != expected_seq:
            return ChainProblem(expected_seq, "removed")
        if event.prev_hash != prev_hash:
            # A predecessor was rewritten with a fresh hash, or two events traded places.
            return ChainProblem(event.seq, "reordered")
        if event_hash(event) != event.hash:
            return ChainProblem(event.seq, "modified")
        if key is not None and event.seq < sealed_elsewhere_before:
            report.sealed_elsewhere += 1  # sealed by the lost key: its hash alone is checked
        elif key is not None:
            if event.seal is None:
                # Every event is sealed: when recorded, or by the upgrade that began sealing (`seal_earlier`).
                return ChainProblem(event.seq, "seal_missing")
            if not hmac.compare_digest(event.seal, event_seal(key, event.hash)):
                # Hashes recomputed from here on by someone without the key.
                return ChainProblem(event.seq, "unsealed")
        expected_seq, prev_hash = expected_seq + 1, event.hash
    last_seq = expected_seq - 1
    if head_seq > last_seq:
        return ChainProblem(last_seq, "truncated")
    if head_hash != prev_hash:
        return ChainProblem(last_seq, "modified")
    if key is not None and head_seq > 0 and not (
            head_seal_value and hmac.compare_digest(head_seal_value, head_seal(key, head_seq, head_hash))):
        return ChainProblem(head_seq, "head_unsealed")
    return None


def verify_chain(session: Session, key: Optional[bytes] = None, checkpoint: Optional[dict] = None) -> ChainReport:
    """Walk the log in sequence order (streamed), checking hashes, seals with `key` and, when given, that the
    chain holds a head kept outside the instance (`checkpoint`: {"seq", "hash"}, see `export_head`)."""
    head = session.get(AuditHead, 1)
    head_seq, head_hash, seal = (head.seq, head.hash, head.seal) if head else (0, GENESIS_HASH, None)
    report = ChainReport()

    def stream():
        result = session.execute(
            select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)
        ).scalars()
        for event in result:
            report.events += 1
            yield event

    boundary = forced_restore(session, key) if key is not None else 0
    report.problem = check_chain(stream(), head_seq, head_hash, key=key, head_seal_value=seal, report=report,
                                 sealed_elsewhere_before=boundary)
    if report.problem is None and checkpoint is not None:
        report.problem = check_checkpoint(session, checkpoint, key)
    return report


def seal_earlier(session: Session, key: Optional[bytes]) -> int:
    """Seal the events recorded before this instance sealed (an instance upgraded to migration 0009, the events
    the migrations themselves record), once their chain is found intact: from then on an event without a seal is
    a rewrite, so stripping every seal and rewriting the chain from its first event is caught too. Refuses (and
    seals nothing, in the reader's words) when the chain is broken or when an unsealed event follows a sealed one. Returns how many
    events it sealed."""
    if key is None:
        return 0
    first_sealed = session.execute(select(func.min(AuditEvent.seq)).where(AuditEvent.seal.is_not(None))).scalar()
    unsealed = select(AuditEvent.seq).where(AuditEvent.seal.is_(None))
    if first_sealed is not None:
        stray = session.execute(unsealed.where(AuditEvent.seq > first_sealed).limit(1)).scalar()
        if stray is not None:
            raise EvidenceError(N_("l’événement d’audit n° %(seq)s n’a pas de sceau alors que ceux qui le précèdent "
                                   "en ont un : rien n’a été scellé ; lancez `evidence verify --audit`"), seq=stray)
    if session.execute(unsealed.limit(1)).scalar() is None:
        return 0
    head = session.get(AuditHead, 1)
    events = session.execute(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)).scalars()
    problem = check_chain(events, head.seq, head.hash)
    if problem is not None:
        raise EvidenceError(N_("la chaîne du journal d’audit est rompue à l’événement n° %(seq)s : ses événements n’ont "
                               "pas été scellés ; lancez `evidence verify --audit`"), seq=problem.seq)
    count = 0
    rows = session.execute(select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seal.is_(None))).all()
    for seq, hash_ in rows:
        session.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(seal=event_seal(key, hash_)))
        count += 1
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seal=head_seal(key, head.seq, head.hash)))
    return count


def forced_restore(session: Session, key: bytes) -> int:
    """The sequence number of the last `restore --force-unverified` recorded and sealed by this instance (0 if
    none). Such a restore is what disaster recovery does when the secret key is lost: the events restored were
    sealed by the old key, which cannot be checked any more. Only an event sealed by this instance's key marks
    the place, so an edited database cannot claim one."""
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.hash, AuditEvent.seal, AuditEvent.details)
        .where(AuditEvent.action == "instance.restore").order_by(AuditEvent.seq.desc())
    )
    for seq, hash_, seal, details in rows:
        if isinstance(details, dict) and details.get("forced_unverified") and seal \
                and hmac.compare_digest(seal, event_seal(key, hash_)):
            return seq
    return 0


def verify(session: Session) -> tuple[int, Optional[ChainProblem]]:
    """(number of events checked, first problem or None), seals checked with the session's instance key."""
    report = verify_chain(session, seal_key_for(session))
    return report.events, report.problem


def export_head(session: Session, key: Optional[bytes]) -> dict:
    """The head to keep outside the instance (a ticket, a WORM bucket): a later `verify --head` shows whether the
    chain still holds it, which catches a truncation or rewrite even by someone holding the key."""
    head = session.get(AuditHead, 1)
    seq, hash_ = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    at = session.execute(select(AuditEvent.at).where(AuditEvent.seq == seq)).scalar() if seq else None
    return {"seq": seq, "hash": hash_,
            "at": at.astimezone(timezone.utc).isoformat(timespec="microseconds") if at else None,
            "seal": head_seal(key, seq, hash_) if key is not None else None,
            "key_id": key_id(key) if key is not None else None}


def check_checkpoint(session: Session, checkpoint: dict, key: Optional[bytes] = None) -> Optional[ChainProblem]:
    """None when the chain holds the kept head's event (same sequence number, same hash) and, with `key`, the kept
    head carries this instance's seal (it was exported here, not written by hand)."""
    seq, hash_ = int(checkpoint.get("seq") or 0), str(checkpoint.get("hash") or GENESIS_HASH)
    if key is not None and checkpoint.get("seal") is not None and not hmac.compare_digest(
            str(checkpoint["seal"]), head_seal(key, seq, hash_)):
        return ChainProblem(seq, "checkpoint_unsealed")
    if seq == 0:
        return None
    found = session.execute(select(AuditEvent.hash).where(AuditEvent.seq == seq)).scalar()
    if found is None:
        return ChainProblem(seq, "not_in_chain")
    if found != hash_:
        return ChainProblem(seq, "checkpoint_differs")
    return None


def recorded(session: Session, object_type: str, actions: Iterable[str]):
    """(seq, action, object_id, details) of the events of these actions, in sequence order, streamed: what
    `verify` compares the stored files' rows with (the chain covers the files)."""
    yield from session.execute(
        select(AuditEvent.seq, AuditEvent.action, AuditEvent.object_id, AuditEvent.details)
        .where(AuditEvent.object_type == object_type, AuditEvent.action.in_(list(actions)))
        .order_by(AuditEvent.seq).execution_options(yield_per=2000)
    )
