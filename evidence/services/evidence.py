"""Evidence: files or links that prove controls, their versions, owners, validity and review.

`check_evidence` holds the rules on an evidence's fields: the web forms, the importer and any other door call it,
so that the same input gets the same answer whichever way it comes in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO, Collection, Optional, Protocol, Sequence
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import EvidenceError, check_version
from evidence.core.vocabulary import (
    CLASSIFICATIONS,
    COMPLIANCE_ROLES,
    EVIDENCE_KINDS,
    MAX_DESCRIPTION,
    MAX_NOTE,
    MAX_TITLE,
    MAX_URL,
)
from evidence.data import audit
from evidence.data.links import replace_links
from evidence.data.models import (
    Control,
    Evidence,
    EvidenceControl,
    EvidenceRequirement,
    EvidenceVersion,
    Framework,
    Requirement,
    User,
    utcnow,
)
from evidence.services.uploads import safe_filename, store_upload


def can_edit_evidence(user: User, evidence: Optional[Evidence]) -> bool:
    if user.role in COMPLIANCE_ROLES:
        return True
    return user.role == "contributor" and (evidence is None or evidence.owner_id == user.id)


def can_review(user: User) -> bool:
    return user.role in COMPLIANCE_ROLES


def require(condition: bool, message: str) -> None:
    if not condition:
        raise PermissionError(message)


# --- Checking an evidence's fields ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldProblem:
    """One refused field. Fields are named as the manifest's columns (title, owner, controls, valid_until, ...),
    which are also the web form's field names: both doors name the same field for the same input."""

    field: str
    message: str
    value: object = None  # the element at fault in a list (a control, an item), None when it is the whole field


class EvidenceInvalid(EvidenceError):
    """Evidence refused for one or more of its fields; `problems` says which and why."""

    def __init__(self, problems: Sequence[FieldProblem]):
        self.problems = tuple(problems)
        super().__init__("; ".join(
            f"{p.field}: {p.message}" + ("" if p.value is None else f" ({p.value})") for p in self.problems
        ))


@dataclass(frozen=True)
class LinkedControl:
    id: int
    ref: str
    status: str


@dataclass(frozen=True)
class LinkedRequirement:
    id: int
    ref: str


class EvidenceLookup(Protocol):
    """The facts `check_evidence` needs, found by the references a door holds: ids for `DatabaseLookup`; the
    manifest's e-mails and refs for the importer, which loads them once for every row instead of once a row."""

    def find_user(self, key) -> Optional[User]:
        """The user (anything with id, email, active), or None when there is no such user."""

    def find_controls(self, keys: Sequence) -> dict:
        """key -> LinkedControl, for the keys that name a control."""

    def find_requirements(self, keys: Sequence) -> dict:
        """key -> LinkedRequirement, for the keys that name an item of the referential."""


class DatabaseLookup:
    """`EvidenceLookup` by id, one query per kind of fact."""

    def __init__(self, session: Session):
        self.session = session

    def find_user(self, key) -> Optional[User]:
        return self.session.get(User, key)

    def find_controls(self, keys: Sequence) -> dict:
        if not keys:
            return {}
        rows = self.session.exec(select(Control.id, Control.ref, Control.status).where(Control.id.in_(keys)))
        return {id_: LinkedControl(id_, ref, status) for id_, ref, status in rows}

    def find_requirements(self, keys: Sequence) -> dict:
        if not keys:
            return {}
        rows = self.session.exec(select(Requirement.id, Requirement.ref).where(Requirement.id.in_(keys)))
        return {id_: LinkedRequirement(id_, ref) for id_, ref in rows}


@dataclass(frozen=True)
class EvidenceDraft:
    """An evidence's fields as a person gives them, before `check_evidence`. `owner` (empty: the actor),
    `controls` and `requirements` hold references that the lookup resolves."""

    title: str
    kind: str = "record"
    description: str = ""
    owner: object = None
    classification: str = "internal"
    effective_date: Optional[date] = None
    valid_until: Optional[date] = None
    controls: tuple = ()
    requirements: tuple = ()


@dataclass(frozen=True)
class CheckedEvidence:
    """Fields that passed `check_evidence`: the evidence's columns, its links by id and by ref, and the first
    version's address. Writers store them as they are."""

    values: dict  # title, kind, description, owner_id, classification, effective_date, valid_until
    control_ids: tuple = ()
    control_refs: tuple = ()
    requirement_ids: tuple = ()
    requirement_refs: tuple = ()
    url: str = ""

    @property
    def title(self) -> str:
        return self.values["title"]


NO_SUCH_ITEM = "no such item in the referential"


def check_evidence(actor: User, draft: EvidenceDraft, lookup: EvidenceLookup, *, url: str = "", note: str = "",
                   kept_owner_id: Optional[int] = None, kept_control_ids: Collection[int] = ()) -> CheckedEvidence:
    """The rules on an evidence's fields, every problem at once (EvidenceInvalid); nothing is cut or replaced.

    `url` and `note` are the first version's, for new evidence. The owner and the controls an evidence already
    has (`kept_...`) are not judged again: a user disabled or a control retired since does not block editing the
    rest. Whatever is named anew must be usable."""
    problems: list[FieldProblem] = []

    def refuse(name: str, message: str, value=None) -> None:
        problems.append(FieldProblem(name, message, value))

    title = (draft.title or "").strip()
    if not title:
        refuse("title", "evidence needs a title")
    elif len(title) > MAX_TITLE:
        refuse("title", f"longer than {MAX_TITLE} characters")
    description = (draft.description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        refuse("description", f"longer than {MAX_DESCRIPTION} characters")
    if draft.kind not in EVIDENCE_KINDS:
        refuse("kind", f"unknown kind; the kinds are: {', '.join(EVIDENCE_KINDS)}")
    if draft.classification not in CLASSIFICATIONS:
        refuse("classification", f"unknown classification; the classifications are: {', '.join(CLASSIFICATIONS)}")
    if draft.effective_date and draft.valid_until and draft.valid_until < draft.effective_date:
        refuse("valid_until", f"before the effective date {draft.effective_date.isoformat()}")

    owner_id = actor.id
    if draft.owner not in (None, ""):
        user = lookup.find_user(draft.owner)
        if user is None:
            refuse("owner", "no such user")
        elif not user.active and user.id != kept_owner_id:
            refuse("owner", "this user is disabled")
        elif actor.role == "contributor" and user.id != actor.id:
            refuse("owner", f"a contributor's evidence is their own: leave owner empty or give {actor.email}")
        else:
            owner_id = user.id

    control_keys = list(dict.fromkeys(draft.controls))
    controls = lookup.find_controls(control_keys)
    for key in control_keys:
        control = controls.get(key)
        if control is None:
            refuse("controls", "no such control", key)
        elif control.status == "retired" and control.id not in kept_control_ids:
            refuse("controls", "this control is retired", control.ref)
    requirement_keys = list(dict.fromkeys(draft.requirements))
    requirements = lookup.find_requirements(requirement_keys)
    for key in requirement_keys:
        if key not in requirements:
            refuse("requirements", NO_SUCH_ITEM, key)
    problems += version_problems(url, note)
    if problems:
        raise EvidenceInvalid(problems)
    linked = [controls[k] for k in control_keys]
    items = [requirements[k] for k in requirement_keys]
    return CheckedEvidence(
        values={"title": title, "kind": draft.kind, "description": description, "owner_id": owner_id,
                "classification": draft.classification, "effective_date": draft.effective_date,
                "valid_until": draft.valid_until},
        control_ids=tuple(c.id for c in linked), control_refs=tuple(c.ref for c in linked),
        requirement_ids=tuple(r.id for r in items), requirement_refs=tuple(r.ref for r in items),
        url=(url or "").strip(),
    )



def version_problems(url: str = "", note: str = "") -> list[FieldProblem]:
    """A version's address (link evidence points at the provider's own systems; the app stores the address and
    never fetches it) and note."""
    problems = []
    url = (url or "").strip()
    if url:
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = None
        if len(url) > MAX_URL:
            problems.append(FieldProblem("url", f"longer than {MAX_URL} characters"))
        elif parts is None or parts.scheme not in ("https", "http") or not parts.netloc:
            problems.append(FieldProblem("url", f"not an http(s) address: {url[:80]!r}"))
    if len((note or "").strip()) > MAX_NOTE:
        problems.append(FieldProblem("note", f"longer than {MAX_NOTE} characters"))
    return problems


def check_url(url: str) -> str:
    """The address, stripped, or EvidenceInvalid naming the url field."""
    if problems := version_problems(url):
        raise EvidenceInvalid(problems)
    return url.strip()


def assessed_requirement_ids(session: Session, refs: Sequence[str]) -> list[int]:
    """Ids of items of the assessed referential, given by ref as a person types them (the evidence form)."""
    refs = list(dict.fromkeys(refs))
    found = dict(session.exec(
        select(Requirement.ref, Requirement.id).join(Framework, Framework.id == Requirement.framework_id)
        .where(Framework.assessed, Requirement.ref.in_(refs or ["-"]))
    ).all())
    if unknown := [r for r in refs if r not in found]:
        raise EvidenceInvalid([FieldProblem("requirements", NO_SUCH_ITEM, r) for r in unknown])
    return [found[r] for r in refs]


# --- Evidence ---------------------------------------------------------------------------------------------------


@dataclass
class EvidenceData:
    """What a service caller gives: owner (None: the actor), controls and items by id."""

    title: str
    kind: str = "record"
    description: str = ""
    owner_id: Optional[int] = None
    classification: str = "internal"
    effective_date: Optional[date] = None
    valid_until: Optional[date] = None
    control_ids: list[int] = field(default_factory=list)
    requirement_ids: list[int] = field(default_factory=list)

    def draft(self) -> EvidenceDraft:
        return EvidenceDraft(self.title, self.kind, self.description, self.owner_id, self.classification,
                             self.effective_date, self.valid_until, tuple(self.control_ids),
                             tuple(self.requirement_ids))


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


def _set_links(session: Session, evidence: Evidence, checked: CheckedEvidence) -> dict:
    changes = {}
    for model, column, ids, refs, label in (
        (EvidenceControl, EvidenceControl.control_id, checked.control_ids, checked.control_refs, "controls"),
        (EvidenceRequirement, EvidenceRequirement.requirement_id, checked.requirement_ids, checked.requirement_refs,
         "requirements"),
    ):
        if replace_links(session, model, model.evidence_id, evidence.id, column, ids):
            changes[label] = sorted(refs)
    return changes


def create_evidence(session: Session, actor: User, data: EvidenceData, *, store=None, upload: Optional[BinaryIO] = None,
                    filename: str = "", url: str = "", note: str = "", max_size: Optional[int] = None) -> Evidence:
    """New evidence with its first version: a stored file, or a link (kind `link`)."""
    require(can_edit_evidence(actor, None), f"{actor.email} may not add evidence")
    checked = check_evidence(actor, data.draft(), DatabaseLookup(session), url=url, note=note)
    if (upload is None) == (not checked.url):
        raise EvidenceError("give either a file or a link")
    blob = store_upload(store, upload, filename, max_size) if upload is not None else None  # slow I/O before the transaction
    evidence = _insert_with_next_ref(session, checked.values)
    _set_links(session, evidence, checked)
    version = _new_version(session, actor, evidence, blob, filename, checked.url or None, note)
    audit.record(session, actor, "evidence.create", evidence, creation_details(checked, version))
    session.commit()
    return evidence


def creation_details(checked: CheckedEvidence, version) -> dict:
    """The audit details of new evidence (the importer records the same)."""
    details = {"title": checked.values["title"], "kind": checked.values["kind"]}
    if checked.control_refs:
        details["controls"] = sorted(checked.control_refs)
    if checked.requirement_refs:
        details["requirements"] = sorted(checked.requirement_refs)
    return {**details, **version_details(version)}


def _new_version(session, actor, evidence, blob, filename, url, note) -> EvidenceVersion:
    number = (session.exec(select(func.max(EvidenceVersion.number)).where(EvidenceVersion.evidence_id == evidence.id)).one() or 0) + 1
    version = EvidenceVersion(
        evidence_id=evidence.id, number=number, author_id=actor.id if isinstance(actor, User) else None,
        note=(note or "").strip(),
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


def version_details(version: EvidenceVersion) -> dict:
    """What the audit trail records of a version (the importer records the same)."""
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
    if problems := version_problems(url, note):
        raise EvidenceInvalid(problems)
    url = (url or "").strip()
    blob = store_upload(store, upload, filename, max_size) if upload is not None else None
    current = current_version(session, evidence)
    if current is not None and ((blob and current.sha256 == blob.sha256) or (url and current.url == url)):
        return None
    version = _new_version(session, actor, evidence, blob, filename, url or None, note)
    previous_status = evidence.status
    evidence.status = "draft"
    evidence.updated_at = utcnow()
    session.add(evidence)
    audit.record(session, actor, "evidence.version", evidence, {**version_details(version), "status_before": previous_status})
    session.commit()
    return version


def update_evidence(session: Session, actor: User, evidence: Evidence, data: EvidenceData,
                    expected_version: Optional[int]) -> Evidence:
    require(can_edit_evidence(actor, evidence), f"{actor.email} may not change {evidence.ref}")
    check_version(evidence, expected_version)
    linked = set(session.exec(select(EvidenceControl.control_id).where(EvidenceControl.evidence_id == evidence.id)))
    checked = check_evidence(actor, data.draft(), DatabaseLookup(session), kept_owner_id=evidence.owner_id,
                             kept_control_ids=linked)
    values = checked.values
    changes = audit.diff(evidence, values)
    with session.no_autoflush:  # one UPDATE, so that one save is one version
        for key, value in values.items():
            setattr(evidence, key, value)
        changes.update(_set_links(session, evidence, checked))
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
