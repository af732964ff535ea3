"""Approving a dossier version (four eyes): the rule is rules.signoff, this records it.

Each approval is one transaction, audited ("dossier.approve"); the second one freezes the version
("dossier.freeze", with the bundle manifest's SHA-256): approved_at is set and the version goes back to
"rendering", and the boundary that called `approve` starts the final render job (jobs.render_dossier), which
renders it without the draft mark and with its approval page, keeps the draft's PDF and signs the approved
one when a certificate is configured.
"""
from __future__ import annotations

from typing import Optional, Sequence

from sqlalchemy import update
from sqlmodel import Session, select

from evidence.core import rules
from evidence.core.errors import N_, EvidenceError, Message
from evidence.data import audit
from evidence.data.models import Dossier, DossierApproval, Perimeter, User, utcnow
from evidence.dossier.generate import label

SIGNOFF = rules.signoff

REFUSALS = {
    SIGNOFF.NOT_AN_APPROVER: N_("%(version)s : seuls les responsables conformité approuvent un dossier ; %(name)s "
                                "n’en fait pas partie."),
    SIGNOFF.ADMIN_SEPARATED: N_("%(version)s : un administrateur gère les comptes et les réglages ; l’approbation "
                                "revient à un responsable conformité (séparation des tâches, réglage "
                                "EVIDENCE_ADMIN_APPROVES)."),
    SIGNOFF.NOT_A_DRAFT: N_("%(version)s n’est pas un projet rendu (état : %(status)s) : seule une version dont "
                            "le PDF a été produit peut être approuvée."),
    SIGNOFF.ALREADY_APPROVED: N_("%(version)s est déjà approuvée : une version approuvée est figée, aucune "
                                 "approbation ne s’y ajoute."),
    SIGNOFF.UNKNOWN_FUNCTION: N_("%(version)s : « %(function)s » n’est pas une des fonctions d’approbation "
                                 "(%(functions)s)."),
    SIGNOFF.TOO_FEW_FUNCTIONS: N_("%(version)s : il faut au moins deux fonctions d’approbation distinctes (réglage "
                                  "DOSSIER_APPROVER_FUNCTIONS) ; il y en a %(count)s."),
    SIGNOFF.SAME_PERSON: N_("%(version)s : %(name)s l’a déjà approuvée ; la seconde approbation doit venir d’une "
                            "autre personne (quatre yeux)."),
    SIGNOFF.SAME_FUNCTION: N_("%(version)s est déjà approuvée au titre de « %(function)s » ; la seconde approbation "
                              "est donnée dans une autre fonction."),
}


# A version's status in words, for the refusal that names it.
STATUS_WORDS = {"queued": N_("en attente"), "rendering": N_("en cours de mise en page"), "draft": N_("projet"),
                "approved": N_("approuvée"), "failed": N_("en échec")}


def approvals(session: Session, dossier: Dossier) -> list[DossierApproval]:
    return list(session.exec(select(DossierApproval).where(DossierApproval.dossier_id == dossier.id)
                             .order_by(DossierApproval.approved_at, DossierApproval.id)))


def given(rows: Sequence[DossierApproval]) -> list:
    return [SIGNOFF.Approval(row.user_id, row.function) for row in rows]


def refusal(user: Optional[User], dossier: Dossier, rows: Sequence[DossierApproval], function: str,
            functions: Sequence[str], admin_approves: bool = False) -> Optional[str]:
    """The rule's code when `user` may not approve `dossier` in `function` (None: they may). The web page asks
    it too, to offer the form only to someone who may use it. `admin_approves`: the ADMIN_APPROVES setting
    (rules.duties.admin_approves(config))."""
    try:
        SIGNOFF.check_approval(user.role if user else "", user.id if user else None, function, dossier.status,
                               dossier.approved_at is not None, given(rows), functions, admin_approves)
    except SIGNOFF.SignoffRefused as refused:
        return refused.code
    return None


def approve(session: Session, actor: User, dossier: Dossier, function: str, *, functions: Sequence[str],
            origin: Optional[str] = None, admin_approves: bool = False) -> Dossier:
    """`actor` approves `dossier` in `function` (one of `functions`, the DOSSIER_APPROVER_FUNCTIONS setting).

    Returns the dossier; when this approval freezes it (dossier.approved_at set, status "rendering") the caller
    starts the final render. `origin` says where the approval came from when it is not the web (e.g.
    "cli:root", who ran `evidence dossier approve --as`)."""
    if not isinstance(actor, User):
        raise EvidenceError(N_("une approbation est donnée par un utilisateur de l’application"))
    function = " ".join((function or "").split())
    # Claim the version's row first: two approvals at once are counted one after the other, never both as
    # the first (a row lock on PostgreSQL, the write lock on SQLite).
    session.execute(update(Dossier).where(Dossier.id == dossier.id).values(progress=Dossier.progress))
    session.refresh(dossier)
    perimeter = session.get(Perimeter, dossier.perimeter_id)
    version = label(perimeter.code, dossier)
    rows = approvals(session, dossier)
    code = refusal(actor, dossier, rows, function, functions, admin_approves)
    if code is not None:
        raise EvidenceError(REFUSALS[code], version=version, name=actor.name, function=function,
                            status=Message(STATUS_WORDS.get(dossier.status, dossier.status)),
                            functions=list(functions) or "—", count=len(functions),
                            field="function" if code in (SIGNOFF.UNKNOWN_FUNCTION, SIGNOFF.SAME_FUNCTION) else None)
    row = DossierApproval(dossier_id=dossier.id, user_id=actor.id, name=actor.name, function=function,
                          approved_at=utcnow())
    session.add(row)
    details = {"version": dossier.number, "function": function, "name": actor.name}
    if origin:
        details["origin"] = origin
    audit.record(session, actor, "dossier.approve", object_type="dossier", object_id=version, details=details)
    rows.append(row)
    if SIGNOFF.frozen_by(given(rows)):
        dossier.approved_at = row.approved_at
        dossier.status, dossier.progress, dossier.error = "rendering", 0, ""
        session.add(dossier)
        audit.record(session, actor, "dossier.freeze", object_type="dossier", object_id=version, details={
            "version": dossier.number, "manifest_sha256": dossier.manifest_sha256,
            "approvals": [{"name": r.name, "function": r.function} for r in rows],
        })
    session.commit()
    return dossier

