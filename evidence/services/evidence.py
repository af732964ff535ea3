"""Evidence: files or links that prove controls, their versions, owners, validity and review.

The rules on an evidence's fields (`check_evidence`) live in evidence_fields; they are re-exported here, where
callers look for the evidence service.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO, Callable, Collection, Optional, Sequence

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import N_, EvidenceError, Message, check_version
from evidence.core.text import bounded
from evidence.core.vocabulary import COMPLIANCE_ROLES, MAX_JUSTIFICATION
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
from evidence.data.storage.base import blob_verdict
from evidence.services import need_to_know, notifications
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


def require_edit(session: Session, actor: User, evidence: Evidence) -> None:
    """Who changes evidence (its fields, a version, its review state) may edit it and read it: content withheld
    from him on a need-to-know basis is not his to change either (the pages offer nothing; this refuses)."""
    require(can_edit_evidence(actor, evidence), f"{actor.email} may not change {evidence.ref}")
    require(need_to_know.can_read(session, actor, evidence), f"{actor.email} may not read {evidence.ref}")


def can_review(user: User, admin_approves: bool = False) -> bool:
    """Whether `user` may approve or reject evidence: a compliance manager, an admin only with ADMIN_APPROVES
    (separation of duties: rules.duties)."""
    return rules.duties.may_approve(getattr(user, "role", ""), admin_approves)


ADMIN_DOES_NOT_APPROVE = N_("%(ref)s : un administrateur gère les comptes et les réglages ; l’approbation revient à "
                            "un responsable conformité (séparation des tâches, réglage EVIDENCE_ADMIN_APPROVES)")


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
                    link_schemes: Sequence[str] = DEFAULT_LINK_SCHEMES,
                    before_commit: Optional[Callable[[Evidence], None]] = None) -> Evidence:
    """New evidence with its first version: a stored file, or a link (kind `link`) of a scheme in `link_schemes`
    (EVIDENCE_LINK_SCHEMES). `before_commit(evidence)`: more of the same transaction (an evidence request it
    answers: services.requests.stage_answer)."""
    require(can_edit_evidence(actor, None), f"{actor.email} may not add evidence")
    checked = check_evidence(actor, data.draft(), DatabaseLookup(session), url=url, note=note,
                             link_schemes=link_schemes)
    one_source(upload is not None, bool(checked.url))
    blob = store_upload(store, upload, filename, max_size) if upload is not None else None  # slow I/O before the transaction
    evidence = _insert_with_next_ref(session, checked.values)
    _set_links(session, evidence, checked)
    version = _new_version(session, actor, evidence, blob, filename, checked.url or None, note)
    audit.record(session, actor, "evidence.create", evidence, creation_details(checked, version))
    if before_commit is not None:
        before_commit(evidence)
    session.commit()
    return evidence


# create_evidence's and add_version's steps, in the caller's transaction, for a service that makes evidence itself
# from fields check_evidence passed (the collection service: automated evidence, many in one transaction).


def insert_checked(session: Session, actor: User, checked: CheckedEvidence, blob, filename: str, note: str = "",
                   **columns) -> tuple[Evidence, EvidenceVersion]:
    """New evidence with its links and its first version (a stored file); `columns`: more of its columns."""
    evidence = _insert_with_next_ref(session, {**checked.values, **columns})
    _set_links(session, evidence, checked)
    return evidence, _new_version(session, actor, evidence, blob, filename, None, note)


def add_file_version(session: Session, actor: User, evidence: Evidence, blob, filename: str,
                     note: str = "") -> EvidenceVersion:
    """The next version of `evidence`, a stored file (its status is the caller's: rules.status_after_new_version)."""
    return _new_version(session, actor, evidence, blob, filename, None, note)


def replace_checked_links(session: Session, evidence: Evidence, checked: CheckedEvidence) -> dict:
    """Make the evidence's links those of `checked`; the changes, as the audit's "changes" name them."""
    return _set_links(session, evidence, checked)


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

    The evidence goes back to draft: what was approved was the earlier version (rules.status_after_new_version;
    a collector's run of automated evidence keeps its review, and comes through services.collection)."""
    require_edit(session, actor, evidence)
    if refusal := rules.hand_version_refusal(evidence.kind, evidence.ref):
        raise EvidenceError(refusal, field="file")
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
    evidence.status = rules.status_after_new_version(evidence.kind, previous_status)
    evidence.updated_at = utcnow()
    session.add(evidence)
    audit.record(session, actor, "evidence.version", evidence, {**version_details(version), "status_before": previous_status})
    notifications.close_review_requests(session, evidence)  # back to draft: no review is waiting any more
    session.commit()
    return version


def update_evidence(session: Session, actor: User, evidence: Evidence, data: EvidenceData,
                    expected_version: Optional[int]) -> Evidence:
    """Save the edit form. A change to what an approval vouched for sends approved (or in review) evidence back
    to draft (`record_edit`)."""
    require_edit(session, actor, evidence)
    check_version(evidence, expected_version)
    linked = set(session.exec(select(EvidenceControl.control_id).where(EvidenceControl.evidence_id == evidence.id)))
    checked = check_evidence(actor, data.draft(), DatabaseLookup(session), kept_owner_id=evidence.owner_id,
                             kept_control_ids=linked, kept_kind=evidence.kind)
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
    record_edit(session, actor, evidence, changes)
    session.commit()
    return evidence


def record_edit(session: Session, actor, evidence: Evidence, changes: dict) -> dict:
    """Audit an edit already applied to `evidence` (`changes`: {field or link: ...}, the audit's "changes"), in
    the caller's transaction: the edit form (update_evidence) and bulk changes come here (the importer only
    creates evidence and adds versions). When the edit changes what an approval vouched for (rules.proving_changes) and the evidence is
    approved or in review, it goes back to draft, as after a new version: the reviewer's verdict was on what
    it said before, and the owner submits it again. The approved version keeps its approved_at/by as
    history; coverage and the dossier count evidence as proof only while its status is approved. Returns the
    audit details."""
    details: dict = {"changes": changes}
    if rules.proving_changes(changes) and isinstance(actor, User):
        if actor.id not in evidence.editor_ids:  # four eyes: he may no longer review what he changed
            evidence.editor_ids = [*evidence.editor_ids, actor.id]
    status = rules.status_after_edit(evidence.status, changes)
    if status != evidence.status:
        details.update(status_before=evidence.status, status_after=status,
                       reviewed_fields=list(rules.proving_changes(changes)))
        evidence.status = status
        notifications.close_review_requests(session, evidence)  # back to draft: no review is waiting any more
    session.add(evidence)
    audit.record(session, actor, "evidence.update", evidence, details)
    return details


def review(session: Session, actor: User, evidence: Evidence, action: str, comment: str = "",
           expected_version: Optional[int] = None, *, admin_approves: bool = False) -> Evidence:
    """submit (owner or manager), approve / reject (a manager who did not upload the current version; an admin
    too when `admin_approves`, the ADMIN_APPROVES setting), reopen."""
    record_review(session, actor, evidence, action, comment, expected_version, admin_approves=admin_approves)
    session.commit()
    return evidence


def own_work(session: Session, evidence: Evidence) -> set[int]:
    """Who may not approve the evidence as it stands (four eyes): the author of its current version, and whoever
    changed what it attests since it was last approved."""
    current = current_version(session, evidence)
    return {i for i in (current.author_id if current else None, *evidence.editor_ids) if i is not None}


def record_review(session: Session, actor: User, evidence: Evidence, action: str, comment: str = "",
                  expected_version: Optional[int] = None, *, admin_approves: bool = False) -> Evidence:
    """`review` in the caller's transaction (a bulk review commits once, or not at all)."""
    check_version(evidence, expected_version)
    comment = bounded(comment, MAX_JUSTIFICATION, N_("Commentaire"), "comment")
    if action in ("approve", "reject"):
        if rules.duties.held_back_admin(getattr(actor, "role", ""), admin_approves):
            raise EvidenceError(ADMIN_DOES_NOT_APPROVE, ref=evidence.ref)
        require(can_review(actor, admin_approves), f"{actor.email} may not review evidence")
        current = current_version(session, evidence)
        if current is not None and current.author_id == actor.id:
            raise EvidenceError(N_("%(ref)s : vous avez déposé sa version actuelle ; un autre responsable doit la "
                                   "revoir (quatre yeux)"), ref=evidence.ref)
        if actor.id in evidence.editor_ids:
            raise EvidenceError(N_("%(ref)s : vous avez modifié ce qu’elle atteste (dates, liens, titre…) ; un autre "
                                   "responsable doit la revoir (quatre yeux)"), ref=evidence.ref)
        if not need_to_know.can_read(session, actor, evidence):  # an admin who approves (ADMIN_APPROVES), unnamed
            raise EvidenceError(N_("%(ref)s : contenu réservé (besoin d’en connaître) : vous ne pouvez pas le lire, "
                                   "donc pas le revoir"), ref=evidence.ref)
        if action == "reject" and not comment:
            raise EvidenceError(N_("%(ref)s : dites pourquoi elle est rejetée"), ref=evidence.ref, field="comment")
    else:
        require_edit(session, actor, evidence)
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
    if action == "approve":
        evidence.editor_ids = []  # their edits are reviewed now
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
        notifications.review_requested(session, actor, evidence, admin_approves)
    else:
        notifications.evidence_reviewed(session, actor, evidence, action, comment)
    return evidence


FILE_EVENTS = ("evidence.create", "evidence.version")  # the events that record a version's file (web and import)


def verify_blobs(session: Session, store) -> tuple[int, list[Message]]:
    """Re-hash every stored version, and compare each version row with the event that recorded its file: a row
    pointed at another blob (sha256, key and size updated together) re-hashes fine but no longer matches the chain.
    Returns (versions checked, problems such as "EV-0042 v3: corrupt")."""
    recorded = {}  # (ref, version) -> (seq, sha256, size): the small part of each event, never its whole details
    for seq, _action, ref, details in audit.recorded(session, Evidence.__tablename__, FILE_EVENTS):
        if isinstance(details, dict) and details.get("sha256"):
            recorded[(ref, details.get("version"))] = (seq, details["sha256"], details.get("size"))
    verdicts: dict[str, Optional[str]] = {}  # one blob may back several versions: hash it once
    problems, checked = [], 0
    rows = session.execute(
        select(Evidence.ref, EvidenceVersion.number, EvidenceVersion.storage_key, EvidenceVersion.sha256,
               EvidenceVersion.size)
        .join(Evidence, Evidence.id == EvidenceVersion.evidence_id)
        .where(EvidenceVersion.storage_key.is_not(None))
        .order_by(Evidence.ref, EvidenceVersion.number)
        .execution_options(yield_per=1000)
    )
    for ref, number, key, sha256, size in rows:
        checked += 1
        if key not in verdicts:
            try:
                verdicts[key] = store.verify(key, sha256)
            except EvidenceError as error:
                verdicts[key] = str(error)
        if verdicts[key]:
            problems.append(Message(N_("%(ref)s v%(number)s : fichier %(key)s %(verdict)s"), ref=ref, number=number,
                                    key=key, verdict=blob_verdict(verdicts[key])))
        if (problem := chain_problem(ref, number, sha256, size, recorded.get((ref, number)))) is not None:
            problems.append(problem)
    return checked, problems


def chain_problem(ref: str, number: int, sha256: str, size, event) -> Optional[Message]:
    """What is wrong between a version row and the event that recorded its file (None when they agree)."""
    if event is None:
        return Message(N_("%(ref)s v%(number)s : aucun événement d’audit n’a enregistré ce fichier (%(sha256)s) : "
                          "la version a été ajoutée hors de l’application"), ref=ref, number=number, sha256=sha256)
    seq, recorded_sha256, recorded_size = event
    if recorded_sha256 != sha256:
        return Message(N_("%(ref)s v%(number)s : le fichier a été remplacé : la base indique %(found)s mais "
                          "l’événement d’audit n° %(seq)s a enregistré %(recorded)s"),
                       ref=ref, number=number, found=sha256, seq=seq, recorded=recorded_sha256)
    if recorded_size is not None and recorded_size != size:
        return Message(N_("%(ref)s v%(number)s : la taille a été modifiée : la base indique %(found)s octets mais "
                          "l’événement d’audit n° %(seq)s a enregistré %(recorded)s octets"),
                       ref=ref, number=number, found=size, seq=seq, recorded=recorded_size)
    return None
