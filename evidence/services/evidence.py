"""Evidence: files or links that prove controls, their versions, owners, validity and review.

The rules on an evidence's fields (`check_evidence`) live in evidence_fields; they are re-exported here, where
callers look for the evidence service.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO, Collection, Optional, Sequence

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import N_, EvidenceError, Message, check_version
from evidence.core.vocabulary import (
    COMPLIANCE_ROLES,
)
from evidence.data import audit
from evidence.data.links import replace_links
from evidence.data.models import (
    Evidence,
    EvidenceAnswer,
    EvidenceControl,
    EvidencePerimeter,
    EvidenceRequirement,
    EvidenceVersion,
    User,
    utcnow,
)
from evidence.services import notifications
from evidence.services.evidence_fields import (  # noqa: F401  (the evidence service's rules, re-exported)
    DEFAULT_LINK_SCHEMES,
    MAX_DOCUMENT_VERSION,
    NO_SUCH_ITEM,
    CheckedEvidence,
    DatabaseLookup,
    EvidenceDraft,
    EvidenceInvalid,
    EvidenceLookup,
    FieldProblem,
    LinkedControl,
    LinkedPerimeter,
    LinkedRequirement,
    assessed_requirement_ids,
    check_evidence,
    check_url,
    control_perimeters,
    entries_of,
    version_problems,
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
    perimeter_ids: Optional[list[int]] = None  # None: the perimeters of its controls
    answers: list[str] = field(default_factory=list)
    document_version: str = ""
    renewal: str = ""  # RENEWAL_CADENCES; "": not recurring

    def draft(self) -> EvidenceDraft:
        return EvidenceDraft(self.title, self.kind, self.description, self.owner_id, self.classification,
                             self.effective_date, self.valid_until, tuple(self.control_ids),
                             tuple(self.requirement_ids),
                             None if self.perimeter_ids is None else tuple(self.perimeter_ids), tuple(self.answers),
                             self.document_version, renewal=self.renewal)


def get_evidence(session: Session, ref: str) -> Evidence:
    evidence = session.exec(select(Evidence).where(Evidence.ref == ref.strip().upper())).first()
    if evidence is None:
        raise EvidenceError(N_("aucune preuve « %(ref)s »"), ref=ref)
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
                raise EvidenceError(N_("aucune référence de preuve n’a pu être attribuée ; réessayez")) from None
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
    if replace_links(session, EvidencePerimeter, EvidencePerimeter.evidence_id, evidence.id,
                     EvidencePerimeter.perimeter_id, checked.perimeter_ids):
        changes["perimeters"] = sorted(checked.perimeter_codes)
    if set_answers(session, evidence.id, checked.answers):
        changes["answers"] = sorted(entry for _r, entry in checked.answers)
    return changes


def set_answers(session: Session, evidence_id: int, answers: Collection[tuple[int, str]]) -> bool:
    """Make the entries the evidence answers exactly `answers` ((requirement id, entry id)); whether any changed."""
    present = {(a.requirement_id, a.entry_id): a for a in session.exec(
        select(EvidenceAnswer).where(EvidenceAnswer.evidence_id == evidence_id))}
    wanted = set(answers)
    for key in set(present) - wanted:
        session.delete(present[key])
    for requirement_id, entry_id in wanted - set(present):
        session.add(EvidenceAnswer(evidence_id=evidence_id, requirement_id=requirement_id, entry_id=entry_id))
    return wanted != set(present)


# Why a review action does not apply to the evidence's status, and the statuses' words (the labels' msgids).
REVIEW_REFUSALS = {
    "submit": N_("%(ref)s ne peut pas être soumise à la revue (état : %(status)s)"),
    "approve": N_("%(ref)s ne peut pas être approuvée (état : %(status)s)"),
    "reject": N_("%(ref)s ne peut pas être rejetée (état : %(status)s)"),
    "reopen": N_("%(ref)s ne peut pas être rouverte (état : %(status)s)"),
}
STATUS_WORDS = {"draft": N_("brouillon"), "in_review": N_("en revue"), "approved": N_("approuvée"),
                "rejected": N_("rejetée")}


def one_source(has_file: bool, has_link: bool) -> None:
    """A version is a stored file or a link, never both and never neither; each refusal says which it is."""
    if has_file and has_link:
        raise EvidenceError(N_("donnez un fichier ou un lien, pas les deux"), field="url")
    if not (has_file or has_link):
        raise EvidenceError(N_("choisissez un fichier ou indiquez un lien"), field="file")


def create_evidence(session: Session, actor: User, data: EvidenceData, *, store=None, upload: Optional[BinaryIO] = None,
                    filename: str = "", url: str = "", note: str = "", max_size: Optional[int] = None,
                    link_schemes: Sequence[str] = DEFAULT_LINK_SCHEMES) -> Evidence:
    """New evidence with its first version: a stored file, or a link (kind `link`) of a scheme in `link_schemes`
    (EVIDENCE_LINK_SCHEMES)."""
    require(can_edit_evidence(actor, None), f"{actor.email} may not add evidence")
    checked = check_evidence(actor, data.draft(), DatabaseLookup(session), url=url, note=note,
                             link_schemes=link_schemes)
    one_source(upload is not None, bool(checked.url))
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
    details["perimeters"] = sorted(checked.perimeter_codes)
    if checked.answers:
        details["answers"] = sorted(entry for _r, entry in checked.answers)
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
                filename: str = "", url: str = "", note: str = "", max_size: Optional[int] = None,
                link_schemes: Sequence[str] = DEFAULT_LINK_SCHEMES) -> Optional[EvidenceVersion]:
    """A new file (or address) for existing evidence. Identical to the current version: nothing is created.

    The evidence goes back to draft: what was approved was the earlier version."""
    require(can_edit_evidence(actor, evidence), f"{actor.email} may not change {evidence.ref}")
    one_source(upload is not None, bool((url or "").strip()))
    if problems := version_problems(url, note, link_schemes):
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
    notifications.close_review_requests(session, evidence)  # back to draft: no review is waiting any more
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
    record_review(session, actor, evidence, action, comment, expected_version)
    session.commit()
    return evidence


def record_review(session: Session, actor: User, evidence: Evidence, action: str, comment: str = "",
                  expected_version: Optional[int] = None) -> Evidence:
    """`review` in the caller's transaction (a bulk review commits once, or not at all)."""
    check_version(evidence, expected_version)
    comment = (comment or "").strip()
    if action in ("approve", "reject"):
        require(can_review(actor), f"{actor.email} may not review evidence")
        current = current_version(session, evidence)
        if current is not None and current.author_id == actor.id:
            raise EvidenceError(N_("%(ref)s : vous avez déposé sa version actuelle ; un autre responsable doit la "
                                   "revoir (quatre yeux)"), ref=evidence.ref)
        if action == "reject" and not comment:
            raise EvidenceError(N_("%(ref)s : dites pourquoi elle est rejetée"), ref=evidence.ref, field="comment")
    else:
        require(can_edit_evidence(actor, evidence), f"{actor.email} may not change {evidence.ref}")
    try:
        status = rules.review_transition(action, evidence.status)
    except ValueError:
        if action not in REVIEW_REFUSALS:
            raise EvidenceError(N_("action de revue « %(action)s » inconnue"), action=action) from None
        raise EvidenceError(REVIEW_REFUSALS[action], ref=evidence.ref,
                            status=Message(STATUS_WORDS.get(evidence.status, evidence.status))) from None
    previous = evidence.status
    evidence.status = status
    details = {"from": previous, "to": status, "comment": comment}
    if action in ("approve", "reject"):
        evidence.review_comment = comment
        evidence.reviewed_by_id = actor.id
        evidence.reviewed_at = utcnow()
    if action == "approve" and current is not None:
        # What was approved is this version: it stays the one cited until another version is approved.
        current.approved_at, current.approved_by_id = evidence.reviewed_at, actor.id
        session.add(current)
        details["version"] = current.number
    evidence.updated_at = utcnow()
    session.add(evidence)
    audit.record(session, actor, f"evidence.{action}", evidence, details)
    # Who must act next, or learn the verdict, is told in the same transaction.
    if action == "submit":
        notifications.review_requested(session, actor, evidence)
    else:
        notifications.evidence_reviewed(session, actor, evidence, action, comment)
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
