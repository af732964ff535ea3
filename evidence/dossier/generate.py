"""A dossier's life: queue it (its snapshot frozen), render the PDF (pdf.py), store it, approve it, sign it.

Nothing here lays anything out: pdf.render_pdf turns a snapshot into bytes; this module decides which
snapshot, records each step and audits it.
"""
from __future__ import annotations

import io
from datetime import date
from typing import Callable, Optional

from sqlalchemy import func
from sqlmodel import Session, select

from evidence.core import clock
from evidence.core.errors import N_, EvidenceError, Message
from evidence.core.text import bounded
from evidence.core.vocabulary import MAX_MARKING, RENDERED_DOSSIER_STATUSES
from evidence.data import audit
from evidence.data.models import Dossier, Perimeter, User, utcnow
from evidence.dossier import history
from evidence.dossier.bundle import manifest_sha256
from evidence.dossier.pdf import (  # noqa: F401  (re-exported: the boundaries and tests import them from here)
    DEFAULT_MAX_ATTACHMENTS,
    LANGUAGES,
    DossierSettings,
    RenderResult,
    checked_language,
    render_html,
    render_pdf,
)
from evidence.dossier.snapshot import take_snapshot
from evidence.services import need_to_know

Progress = Callable[[int, str], None]


# --- Generation ---------------------------------------------------------------------------------------------


STATUS_WORDS = {"queued": N_("en attente de rendu"), "rendering": N_("en cours de rendu"), "draft": N_("projet"),
                "approved": N_("approuvée"), "failed": N_("en échec")}


def status_words(status: str) -> Message | str:
    """A version's state in the reader's words (a refusal names it)."""
    return Message(STATUS_WORDS[status]) if status in STATUS_WORDS else status


NO_VERSION = N_("%(perimeter)s n’a pas de version de dossier %(number)s")


def label(perimeter_code: str, dossier: Dossier) -> str:
    """How messages and the audit trail name a version: "iaas-fr1-v3"."""
    return f"{perimeter_code}-v{dossier.number}"


def next_number(session: Session, perimeter: Perimeter) -> int:
    return (session.exec(select(func.max(Dossier.number)).where(Dossier.perimeter_id == perimeter.id)).one() or 0) + 1


def queue(session: Session, actor, perimeter: Perimeter, lang: str, attach: bool, marking: str, today: date, *,
          organisation: str, default_marking: str = "") -> Dossier:
    """Freeze the snapshot and record the dossier as queued; rendering happens in `render_stored`.
    `organisation` is the provider's name, on the cover (settings.organisation); `marking` is what the user
    typed for every page, else `default_marking` (the DOSSIER_MARKING setting, empty by default: a protection
    mention is the organisation's to choose, never the tool's)."""
    checked_language(lang)
    marking = bounded(marking, MAX_MARKING, N_("Mention sur chaque page"), "marking")
    options = {"attach_evidence": bool(attach), "marking": marking or (default_marking or "").strip()}
    snapshot = take_snapshot(session, perimeter, today, options, organisation=organisation)
    # Need-to-know: what the person queueing may not read is named in the dossier but neither attached, nor
    # bundled, nor its address printed (decided here, before the manifest's SHA-256 is fixed).
    withheld = need_to_know.withhold_unreadable(session, actor, snapshot)
    dossier = Dossier(perimeter_id=perimeter.id, number=next_number(session, perimeter), language=lang,
                      options=options, author_id=getattr(actor, "id", None), status="queued", snapshot=snapshot)
    snapshot["number"] = dossier.number
    # The history of later versions names the author from the row; this version's own row prints it from here.
    snapshot["author"] = actor.name if isinstance(actor, User) else (actor or "")
    # Known before any PDF exists: the bundle's manifest comes from the snapshot alone.
    dossier.manifest_sha256 = manifest_sha256(snapshot)
    session.add(dossier)
    session.flush()
    details = {"language": lang, **options, "evidence_pinned": len(snapshot["evidence"]),
               "manifest_sha256": dossier.manifest_sha256}
    if withheld:
        details["evidence_withheld"] = withheld
    audit.record(session, actor, "dossier.queue", object_type="dossier", object_id=label(perimeter.code, dossier),
                 details=details)
    session.commit()
    return dossier


def signoff(session: Session, dossier: Dossier) -> dict:
    """What the PDF says of its approval: final once two people approved (the approval page, no "PROJET" mark),
    else a draft with the approvals given so far."""
    return {"final": dossier.approved_at is not None, "manifest_sha256": dossier.manifest_sha256,
            "approvals": history.approvals(session, [dossier.id])[dossier.id]}


def render_stored(session: Session, store, dossier: Dossier, progress: Optional[Progress] = None, *,
                  settings: DossierSettings) -> Dossier:
    """Render a queued dossier and store the PDF: a draft (status "draft", its PDF kept in draft_*) or, once
    approved, the final version (status "approved", the draft's PDF kept), signed when a certificate is
    configured. A failure leaves it "failed" with the reason (approvals stay) and can be rendered again."""
    progress = progress or (lambda percent, step: None)
    perimeter = session.get(Perimeter, dossier.perimeter_id)
    name = label(perimeter.code, dossier)
    final = dossier.approved_at is not None

    def step(percent: int, what: str):
        dossier.progress = percent
        session.add(dossier)
        session.commit()
        progress(percent, what)

    dossier.status, dossier.error = "rendering", ""
    step(10, "rendering")

    def parts_done(share: float):
        percent = 10 + int(70 * share)
        if percent >= dossier.progress + 5:
            step(percent, "rendering")

    try:
        rendered = render_pdf(dossier.snapshot, dossier.language, store,
                              attach=dossier.options.get("attach_evidence", False), progress=parts_done,
                              settings=settings, signoff=signoff(session, dossier))
        step(80, "storing")
        blob = store.put(io.BytesIO(rendered.pdf))
    except Exception as error:
        session.rollback()
        dossier = session.get(Dossier, dossier.id)
        dossier.status, dossier.error = "failed", str(error)[:2000]
        session.add(dossier)
        audit.record(session, None, "dossier.fail", object_type="dossier", object_id=name,
                     details={"error": dossier.error[:300], "final": final})
        session.commit()
        raise
    dossier.sha256, dossier.size, dossier.storage_key = blob.sha256, blob.size, blob.key
    if final:
        dossier.status = "approved"
    else:
        dossier.status, dossier.draft_sha256, dossier.draft_storage_key = "draft", blob.sha256, blob.key
    dossier.progress = 100
    session.add(dossier)
    audit.record(session, None, "dossier.render", object_type="dossier", object_id=name,
                 details={"sha256": blob.sha256, "size": blob.size, "final": final})
    session.commit()
    if final and settings.signing is not None:
        sign_stored(session, store, dossier, settings.signing)
    progress(100, "done")
    return dossier


def sign_stored(session: Session, store, dossier: Dossier, signing) -> Dossier:
    """Sign an approved version's PDF (PAdES, the organisation's certificate) and keep the signed copy beside
    it (signed_*); the approved PDF itself stays as rendered."""
    from evidence.dossier.signing import sign_pdf  # pyHanko, loaded only when a certificate is configured

    perimeter = session.get(Perimeter, dossier.perimeter_id)
    name = label(perimeter.code, dossier)
    if dossier.status != "approved":
        raise EvidenceError(N_("%(name)s n’est pas une version approuvée (état : %(status)s) : seul un dossier "
                               "approuvé est signé"), name=name, status=status_words(dossier.status))
    if dossier.signed_storage_key:
        raise EvidenceError(N_("%(name)s est déjà signé (%(signer)s, %(date)s)"), name=name, signer=dossier.signer,
                            date=history.iso(dossier.signed_at))
    with store.open(dossier.storage_key) as source:
        pdf = source.read()
    try:
        signed, signer = sign_pdf(pdf, signing)
        blob = store.put(io.BytesIO(signed))
    except Exception as error:
        session.rollback()
        dossier = session.get(Dossier, dossier.id)
        # Kept in the source language, as every stored reason: the record outlives the reader's choice.
        dossier.error = Message(N_("échec de la signature : %(reason)s"), reason=error).render()[:2000]
        session.add(dossier)
        audit.record(session, None, "dossier.sign_fail", object_type="dossier", object_id=name,
                     details={"error": dossier.error[:300]})
        session.commit()
        raise
    dossier.signed_sha256, dossier.signed_size, dossier.signed_storage_key = blob.sha256, blob.size, blob.key
    dossier.signed_at, dossier.signer, dossier.error = utcnow(), signer[:300], ""
    session.add(dossier)
    audit.record(session, None, "dossier.sign", object_type="dossier", object_id=name,
                 details={"sha256": blob.sha256, "size": blob.size, "signer": dossier.signer,
                          "manifest_sha256": dossier.manifest_sha256})
    session.commit()
    return dossier


def render_again(session: Session, actor, dossier: Dossier) -> Dossier:
    """Queue a failed version again (the boundary then starts the render job): a draft renders as a draft, an
    approved version as the final one, its approvals kept."""
    perimeter = session.get(Perimeter, dossier.perimeter_id)
    name = label(perimeter.code, dossier)
    if dossier.status != "failed":
        raise EvidenceError(N_("%(name)s n’a pas échoué (état : %(status)s) : seule une version en échec est rendue "
                               "de nouveau"), name=name, status=status_words(dossier.status))
    dossier.status, dossier.progress, dossier.error = "queued", 0, ""
    session.add(dossier)
    audit.record(session, actor, "dossier.render_again", object_type="dossier", object_id=name,
                 details={"final": dossier.approved_at is not None})
    session.commit()
    return dossier


def generate(session: Session, store, actor, perimeter: Perimeter, lang: str = "fr", attach: bool = False,
             marking: str = "", today: Optional[date] = None, progress: Optional[Progress] = None, *,
             settings: DossierSettings, default_marking: str = "") -> Dossier:
    """Queue and render a dossier at once (the command line; the web queues and leaves the rendering to a job)."""
    dossier = queue(session, actor, perimeter, lang, attach, marking, clock.today(today),
                    organisation=settings.organisation, default_marking=default_marking)
    return render_stored(session, store, dossier, progress, settings=settings)


# --- Which version is offered ---------------------------------------------------------------------------------


def offered_pdf(dossier: Dossier, which: Optional[str] = None) -> Optional[tuple[str, str, int]]:
    """(storage key, SHA-256, size) of one of a version's PDFs, or None when it has none: "draft" (kept after
    approval), "approved", "signed", or by default what one hands over: the signed PDF when there is one, else
    the current one (the approved PDF of an approved version, the draft's of a draft)."""
    if which is None:
        which = "signed" if dossier.signed_storage_key else "current"
    if which == "signed":
        return (dossier.signed_storage_key, dossier.signed_sha256, dossier.signed_size) if dossier.signed_storage_key else None
    if which == "draft":
        if not dossier.draft_storage_key:
            return None
        # The draft's size is not kept apart: while it is current it is `size`; after approval the store knows it.
        size = dossier.size if dossier.draft_storage_key == dossier.storage_key else None
        return dossier.draft_storage_key, dossier.draft_sha256, size
    if which == "approved" and dossier.status != "approved":
        return None
    if which in ("current", "approved") and dossier.status in RENDERED_DOSSIER_STATUSES and dossier.storage_key:
        return dossier.storage_key, dossier.sha256, dossier.size
    return None


def bundled_version(session: Session, perimeter: Perimeter, number: Optional[int] = None, draft: bool = False) -> Dossier:
    """The version a bundle carries: the latest approved one (or version `number`); a draft only when `draft`
    is asked for, since a draft cannot be bundled as final."""
    if number is not None:
        dossier = history.version(session, perimeter, number)
        if dossier is None:
            raise EvidenceError(NO_VERSION, perimeter=perimeter.code, number=number)
        name = label(perimeter.code, dossier)
        if dossier.status == "approved":
            return dossier
        if dossier.status == "draft":
            if draft:
                return dossier
            raise EvidenceError(N_("%(name)s est un projet : un projet ne peut pas être remis comme version finale "
                                   "(approuvez-le d’abord, ou demandez explicitement le projet)"), name=name)
        raise EvidenceError(N_("%(name)s n’a pas de PDF rendu (état : %(status)s)"), name=name,
                            status=status_words(dossier.status))
    statuses = RENDERED_DOSSIER_STATUSES if draft else ("approved",)
    latest = session.exec(select(Dossier).where(Dossier.perimeter_id == perimeter.id, Dossier.status.in_(statuses))
                          .order_by(Dossier.number.desc()).limit(1)).first()
    if latest is None:
        if draft:
            raise EvidenceError(N_("%(perimeter)s n’a aucune version de dossier rendue"), perimeter=perimeter.code)
        raise EvidenceError(N_("%(perimeter)s n’a aucune version de dossier approuvée : un projet ne peut pas être "
                               "remis comme version finale (approuvez-en une d’abord, ou demandez explicitement le "
                               "projet)"), perimeter=perimeter.code)
    return latest


def file_name(perimeter_code: str, dossier: Dossier, which: Optional[str] = None) -> str:
    """The PDF's name for a download: the draft's and the signed copy's say so, the one handed over does not."""
    suffix = {"draft": "-projet", "signed": "-signe"}.get(which or "", "")
    return f"dossier-secnumcloud-{perimeter_code}-v{dossier.number}{suffix}.pdf"
