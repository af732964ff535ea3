"""Re-hashing the stored dossiers: `evidence verify` and a restore check that every PDF is still the one rendered,
and every stored signature still intact and valid."""
from __future__ import annotations

from sqlmodel import Session, select

from evidence.core.errors import N_, Message
from evidence.core.vocabulary import RENDERED_DOSSIER_STATUSES
from evidence.data import audit
from evidence.data.models import Dossier, Perimeter
from evidence.data.storage.base import blob_verdict
from evidence.dossier.generate import label

# Which of a version's PDFs a problem is about, in the reader's words.
WHICH_PDF = {"draft": N_("PDF du projet"), "approved": N_("PDF approuvé"), "current": N_("PDF courant"),
             "signed": N_("PDF signé")}


def verify_dossiers(session: Session, store) -> tuple[int, list[Message]]:
    """(dossiers checked, a line for each stored PDF that is missing or no longer matches its SHA-256, and for
    each signed copy whose signature no longer holds). Every PDF a rendered version keeps is checked: the
    draft (kept after approval), the approved one and the signed copy."""
    recorded = recorded_pdfs(session)
    problems, checked = [], 0
    for dossier, code in session.exec(
        select(Dossier, Perimeter.code).join(Perimeter, Perimeter.id == Dossier.perimeter_id)
        .where(Dossier.status.in_(RENDERED_DOSSIER_STATUSES)).order_by(Perimeter.code, Dossier.number)
    ):
        checked += 1
        name = f"{code} v{dossier.number}"
        stored = {}
        for which, key, sha256 in (("draft", dossier.draft_storage_key, dossier.draft_sha256),
                                   ("approved" if dossier.status == "approved" else "current",
                                    dossier.storage_key, dossier.sha256),
                                   ("signed", dossier.signed_storage_key, dossier.signed_sha256)):
            if not key or key in stored:
                continue  # a draft's current PDF is its draft PDF: checked once
            stored[key] = which
            if (problem := chain_problem(name, which, sha256, recorded.get((label(code, dossier),
                                                                              RECORDED_AS[which])))) is not None:
                problems.append(problem)
            verdict = store.verify(key, sha256)
            if verdict:
                problems.append(Message(N_("%(name)s : %(which)s %(key)s %(verdict)s"), name=name,
                                        which=Message(WHICH_PDF[which]), key=key, verdict=blob_verdict(verdict)))
            if which == "signed" and verdict != "missing":  # and what fails in the signature
                problems += [Message(N_("%(name)s : %(which)s %(key)s : %(problem)s"), name=name,
                                     which=Message(WHICH_PDF["signed"]), key=key, problem=p)
                             for p in _signature_problems(store, key)]
    return checked, problems


# Which event records each PDF: the draft's and the final render (dossier.render, "final" false or true) and
# the signed copy (dossier.sign). The last such event of a version is the one its row must match.
RECORDED_AS = {"draft": "draft", "current": "draft", "approved": "final", "signed": "signed"}


def recorded_pdfs(session: Session) -> dict:
    """(version label, draft | final | signed) -> (seq, sha256) of the events that recorded each PDF, streamed."""
    recorded = {}
    for seq, action, name, details in audit.recorded(session, "dossier", ("dossier.render", "dossier.sign")):
        if isinstance(details, dict) and details.get("sha256"):
            which = "signed" if action == "dossier.sign" else ("final" if details.get("final") else "draft")
            recorded[(name, which)] = (seq, details["sha256"])
    return recorded


def chain_problem(name: str, which: str, sha256: str, event) -> Message | None:
    if event is None:
        return Message(N_("%(name)s : %(which)s : aucun événement d’audit n’a enregistré ce fichier (%(sha256)s)"),
                       name=name, which=Message(WHICH_PDF[which]), sha256=sha256)
    seq, recorded_sha256 = event
    if recorded_sha256 != sha256:
        return Message(N_("%(name)s : %(which)s : le fichier a été remplacé : la base indique %(found)s mais "
                          "l’événement d’audit n° %(seq)s a enregistré %(recorded)s"),
                       name=name, which=Message(WHICH_PDF[which]), found=sha256, seq=seq, recorded=recorded_sha256)
    return None


def _signature_problems(store, key: str) -> list[Message]:
    from evidence.dossier.signing import check_signature  # pyHanko, loaded only when there is a signed copy

    with store.open(key) as source:
        report = check_signature(source.read())
    return report.problems if not (report.signed and report.intact and report.valid and report.covers_whole_file) \
        else []
