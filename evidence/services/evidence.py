"""Evidence: files or links that prove controls, their versions, owners, validity and review."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO, Optional
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import EvidenceError, check_version
from evidence.data import audit
from evidence.data.links import replace_links
from evidence.data.models import (
    CLASSIFICATIONS,
    EVIDENCE_KINDS,
    Control,
    Evidence,
    EvidenceControl,
    EvidenceRequirement,
    EvidenceVersion,
    Requirement,
    User,
    utcnow,
)

COMPLIANCE_ROLES = ("admin", "manager")


def can_edit_evidence(user: User, evidence: Optional[Evidence]) -> bool:
    if user.role in COMPLIANCE_ROLES:
        return True
    return user.role == "contributor" and (evidence is None or evidence.owner_id == user.id)


def can_review(user: User) -> bool:
    return user.role in COMPLIANCE_ROLES


def require(condition: bool, message: str) -> None:
    if not condition:
        raise PermissionError(message)


# --- Files ---------------------------------------------------------------------------------------------------

_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"-----BEGIN CERTIFICATE-----", "application/x-pem-file"),
)
_OFFICE = {".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
           ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
           ".odt": "application/vnd.oasis.opendocument.text", ".ods": "application/vnd.oasis.opendocument.spreadsheet"}


def sniff_media_type(head: bytes, filename: str = "") -> str:
    """The media type from the file's first bytes (the client's claim is never trusted).

    Markup (HTML, SVG, XML) is reported as what it is so that the UI can warn; downloads are attachments
    whatever the type, so it never renders in the app's origin.
    """
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            if media_type == "application/zip":
                return _OFFICE.get(_extension(filename), media_type)
            return media_type
    if head[4:12] in (b"ftypisom", b"ftypmp42"):
        return "video/mp4"
    try:
        text = head.decode("utf-8") if head else ""
    except UnicodeDecodeError as error:
        # The head may cut a multi-byte character; only bytes before the cut matter.
        if error.start < len(head) - 4:
            return "application/octet-stream"
        text = head[:error.start].decode("utf-8")
    if "\x00" in text:
        return "application/octet-stream"
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith("<svg") or (stripped.startswith("<?xml") and "<svg" in stripped):
        return "image/svg+xml"
    if stripped.startswith(("<!doctype html", "<html")) or "<script" in stripped[:512]:
        return "text/html"
    if stripped.startswith("<?xml"):
        return "application/xml"
    if stripped.startswith(("{", "[")) and _extension(filename) == ".json":
        return "application/json"
    if _extension(filename) == ".csv":
        return "text/csv"
    if _extension(filename) in (".md", ".markdown"):
        return "text/markdown"
    return "text/plain"


def _extension(filename: str) -> str:
    match = re.search(r"(\.[A-Za-z0-9]{1,8})$", filename or "")
    return match.group(1).lower() if match else ""


def safe_filename(name: str) -> str:
    """The client's file name reduced to something safe to show and to offer back as a download name.

    It is never used as a path: blobs are stored under their hash.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]  # drop any directory part, Windows or POSIX
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")  # control and format characters
    name = name.strip().strip(".") or "file"
    return name[:200]


# --- Evidence ---------------------------------------------------------------------------------------------------


@dataclass
class EvidenceData:
    title: str
    kind: str = "record"
    description: str = ""
    owner_id: Optional[int] = None
    classification: str = "internal"
    effective_date: Optional[date] = None
    valid_until: Optional[date] = None
    control_ids: list[int] = field(default_factory=list)
    requirement_ids: list[int] = field(default_factory=list)


def get_evidence(session: Session, ref: str) -> Evidence:
    evidence = session.exec(select(Evidence).where(Evidence.ref == ref.strip().upper())).first()
    if evidence is None:
        raise EvidenceError(f"no evidence {ref!r}")
    return evidence


def next_ref(session: Session) -> str:
    highest = session.exec(select(func.max(Evidence.id))).one() or 0
    return f"EV-{highest + 1:04d}"


def _insert_with_next_ref(session: Session, values: dict, attempts: int = 8) -> Evidence:
    """Insert evidence under the next EV- number. Concurrent writers may pick the same number: the loser's
    insert is undone to a savepoint (the rest of its transaction stands) and it takes the following one."""
    for attempt in range(attempts):
        evidence = Evidence(ref=next_ref(session), **values)
        try:
            with session.begin_nested():
                session.add(evidence)
        except IntegrityError:
            if attempt == attempts - 1:
                raise EvidenceError("could not allocate an evidence reference; try again") from None
            continue
        return evidence
    raise AssertionError("unreachable")


def check_url(url: str) -> str:
    """Link evidence points at the provider's own systems; the app stores the address and never fetches it."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or len(url) > 2000:
        raise EvidenceError(f"not an http(s) address: {url[:80]!r}")
    return url


def _validated(session: Session, actor: User, data: EvidenceData) -> dict:
    if not (data.title or "").strip():
        raise EvidenceError("evidence needs a title")
    if data.kind not in EVIDENCE_KINDS:
        raise EvidenceError(f"unknown kind {data.kind!r}")
    if data.classification not in CLASSIFICATIONS:
        raise EvidenceError(f"unknown classification {data.classification!r}")
    if data.effective_date and data.valid_until and data.valid_until < data.effective_date:
        raise EvidenceError("'valid until' comes before the effective date")
    owner_id = data.owner_id
    if owner_id is not None and session.get(User, owner_id) is None:
        raise EvidenceError("unknown owner")
    if actor.role == "contributor":
        owner_id = actor.id
    return {
        "title": data.title.strip()[:300], "kind": data.kind, "description": (data.description or "").strip(),
        "owner_id": owner_id, "classification": data.classification,
        "effective_date": data.effective_date, "valid_until": data.valid_until,
    }


def _set_links(session: Session, evidence: Evidence, control_ids: list[int], requirement_ids: list[int]) -> dict:
    changes = {}
    for model, column, wanted, target, label in (
        (EvidenceControl, EvidenceControl.control_id, set(control_ids), Control, "controls"),
        (EvidenceRequirement, EvidenceRequirement.requirement_id, set(requirement_ids), Requirement, "requirements"),
    ):
        found = {row.id: row.ref for row in session.exec(select(target).where(target.id.in_(wanted or {-1})))}
        if unknown := wanted - set(found):
            raise EvidenceError(f"{evidence.ref}: unknown {label} {sorted(unknown)}")
        if replace_links(session, model, model.evidence_id, evidence.id, column, wanted):
            changes[label] = sorted(found.values())
    return changes


def create_evidence(session: Session, actor: User, data: EvidenceData, *, store=None, upload: Optional[BinaryIO] = None,
                    filename: str = "", url: str = "", note: str = "", max_size: Optional[int] = None) -> Evidence:
    """New evidence with its first version: a stored file, or a link (kind `link`)."""
    require(can_edit_evidence(actor, None), f"{actor.email} may not add evidence")
    values = _validated(session, actor, data)
    if (upload is None) == (not url):
        raise EvidenceError("give either a file or a link")
    blob = _store(store, upload, filename, max_size) if upload is not None else None  # slow I/O before the transaction
    evidence = _insert_with_next_ref(session, values)
    links = _set_links(session, evidence, data.control_ids, data.requirement_ids)
    version = _new_version(session, actor, evidence, blob, filename, check_url(url) if url else None, note)
    audit.record(session, actor, "evidence.create", evidence, {
        "title": evidence.title, "kind": evidence.kind, **links, **_version_details(version),
    })
    session.commit()
    return evidence


@dataclass(frozen=True)
class _Stored:
    key: str
    sha256: str
    size: int
    media_type: str


class _Prefixed:
    """A stream whose first bytes were already read (to sniff the type), read again from the start."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


def _store(store, upload: BinaryIO, filename: str, max_size: Optional[int]) -> _Stored:
    head = upload.read(8192)
    blob = store.put(_Prefixed(head, upload), max_size=max_size)
    return _Stored(blob.key, blob.sha256, blob.size, sniff_media_type(head, filename))


def _new_version(session, actor, evidence, blob, filename, url, note) -> EvidenceVersion:
    number = (session.exec(select(func.max(EvidenceVersion.number)).where(EvidenceVersion.evidence_id == evidence.id)).one() or 0) + 1
    version = EvidenceVersion(
        evidence_id=evidence.id, number=number, author_id=actor.id if isinstance(actor, User) else None,
        note=(note or "").strip()[:2000],
    )
    if blob is not None:
        version.sha256, version.size, version.storage_key = blob.sha256, blob.size, blob.key
        version.media_type = blob.media_type
        version.original_filename = safe_filename(filename)
    else:
        version.url = url
        version.media_type = "text/uri-list"
    session.add(version)
    session.flush()
    return version


def _version_details(version: EvidenceVersion) -> dict:
    if version.url:
        return {"version": version.number, "url": version.url}
    return {"version": version.number, "sha256": version.sha256, "size": version.size, "file": version.original_filename}


def current_version(session: Session, evidence: Evidence) -> Optional[EvidenceVersion]:
    return session.exec(
        select(EvidenceVersion).where(EvidenceVersion.evidence_id == evidence.id).order_by(EvidenceVersion.number.desc())
    ).first()


def add_version(session: Session, actor: User, evidence: Evidence, *, store=None, upload: Optional[BinaryIO] = None,
                filename: str = "", url: str = "", note: str = "", max_size: Optional[int] = None) -> Optional[EvidenceVersion]:
    """A new file (or address) for existing evidence. Identical to the current version: nothing is created.

    The evidence goes back to draft: what was approved was the earlier version."""
    require(can_edit_evidence(actor, evidence), f"{actor.email} may not change {evidence.ref}")
    if (upload is None) == (not url):
        raise EvidenceError("give either a file or a link")
    blob = _store(store, upload, filename, max_size) if upload is not None else None
    current = current_version(session, evidence)
    if current is not None and ((blob and current.sha256 == blob.sha256) or (url and current.url == url.strip())):
        return None
    version = _new_version(session, actor, evidence, blob, filename, check_url(url) if url else None, note)
    previous_status = evidence.status
    evidence.status = "draft"
    evidence.updated_at = utcnow()
    session.add(evidence)
    audit.record(session, actor, "evidence.version", evidence, {**_version_details(version), "status_before": previous_status})
    session.commit()
    return version


def update_evidence(session: Session, actor: User, evidence: Evidence, data: EvidenceData,
                    expected_version: Optional[int]) -> Evidence:
    require(can_edit_evidence(actor, evidence), f"{actor.email} may not change {evidence.ref}")
    check_version(evidence, expected_version)
    values = _validated(session, actor, data)
    changes = audit.diff(evidence, values)
    with session.no_autoflush:  # one UPDATE, so that one save is one version
        for key, value in values.items():
            setattr(evidence, key, value)
        changes.update(_set_links(session, evidence, data.control_ids, data.requirement_ids))
        if not changes:
            session.rollback()
            return evidence
        evidence.updated_at = utcnow()
    session.add(evidence)
    audit.record(session, actor, "evidence.update", evidence, {"changes": changes})
    session.commit()
    return evidence


def review(session: Session, actor: User, evidence: Evidence, action: str, comment: str = "",
           expected_version: Optional[int] = None) -> Evidence:
    """submit (owner or manager), approve / reject (a manager who did not upload the current version), reopen."""
    check_version(evidence, expected_version)
    comment = (comment or "").strip()
    if action in ("approve", "reject"):
        require(can_review(actor), f"{actor.email} may not review evidence")
        current = current_version(session, evidence)
        if current is not None and current.author_id == actor.id:
            raise EvidenceError(f"{evidence.ref}: you uploaded its current version; another manager must review it (four eyes)")
        if action == "reject" and not comment:
            raise EvidenceError(f"{evidence.ref}: say why it is rejected")
    else:
        require(can_edit_evidence(actor, evidence), f"{actor.email} may not change {evidence.ref}")
    try:
        status = rules.review_transition(action, evidence.status)
    except ValueError as error:
        raise EvidenceError(f"{evidence.ref}: {error}") from None
    previous = evidence.status
    evidence.status = status
    if action in ("approve", "reject"):
        evidence.review_comment = comment
        evidence.reviewed_by_id = actor.id
        evidence.reviewed_at = utcnow()
    evidence.updated_at = utcnow()
    session.add(evidence)
    audit.record(session, actor, f"evidence.{action}", evidence, {"from": previous, "to": status, "comment": comment})
    session.commit()
    return evidence


def verify_blobs(session: Session, store) -> tuple[int, list[str]]:
    """Re-hash every stored version. Returns (versions checked, problems such as "EV-0042 v3: corrupt")."""
    verdicts: dict[str, Optional[str]] = {}  # one blob may back several versions: hash it once
    problems, checked = [], 0
    rows = session.execute(
        select(Evidence.ref, EvidenceVersion.number, EvidenceVersion.storage_key, EvidenceVersion.sha256)
        .join(Evidence, Evidence.id == EvidenceVersion.evidence_id)
        .where(EvidenceVersion.storage_key.is_not(None))
        .order_by(Evidence.ref, EvidenceVersion.number)
        .execution_options(yield_per=1000)
    )
    for ref, number, key, sha256 in rows:
        checked += 1
        if key not in verdicts:
            try:
                verdicts[key] = store.verify(key, sha256)
            except EvidenceError as error:
                verdicts[key] = str(error)
        if verdicts[key]:
            problems.append(f"{ref} v{number}: {verdicts[key]} blob {key}")
    return checked, problems
