"""Everything `evidence verify` checks, also run by a restore on what it restored.

Each stored evidence version and each rendered dossier is re-hashed against the SHA-256 the database holds,
and the audit trail's hash chain is walked up to its head.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from sqlmodel import Session

from evidence.core.errors import N_, Message
from evidence.data import audit
from evidence.data.storage import BlobStore
from evidence.dossier.verify import verify_dossiers
from evidence.services.evidence import verify_blobs


@dataclass
class VerifyReport:
    """What was checked and what was wrong; the stores' counts are None when only the chain was checked."""

    evidence_checked: Optional[int] = None
    evidence_problems: list = field(default_factory=list)  # Messages (or the service's lines)
    dossiers_checked: Optional[int] = None
    dossier_problems: list = field(default_factory=list)
    events: int = 0
    head_seq: int = 0
    head_hash: str = audit.GENESIS_HASH
    chain_problem: Optional[Message] = None

    @property
    def problems(self) -> list[Message]:
        """Every problem, each on one line saying what it is about."""
        return ([evidence_problem(p) for p in self.evidence_problems]
                + [dossier_problem(p) for p in self.dossier_problems]
                + ([chain_line(self.chain_problem)] if self.chain_problem is not None else []))


def evidence_problem(problem) -> Message:
    return Message(N_("Preuve %(problem)s"), problem=problem)


def dossier_problem(problem) -> Message:
    return Message(N_("Dossier %(problem)s"), problem=problem)


def chain_line(problem) -> Message:
    return Message(N_("Journal d’audit : %(problem)s"), problem=problem)


# A break in the audit chain, in the reader's words (audit.ChainProblem names it with a code).
CHAIN_WORDS = {
    "modified": N_("l’événement d’audit n° %(seq)s a été modifié (son empreinte ne correspond pas à son contenu)"),
    "removed": N_("l’événement d’audit n° %(seq)s a été supprimé"),
    "reordered": N_("l’événement d’audit n° %(seq)s est hors d’ordre (il ne suit pas l’événement qui le précède)"),
    "truncated": N_("les événements d’audit après le n° %(seq)s ont été supprimés"),
}


def chain_words(chain) -> Message:
    if chain.problem in CHAIN_WORDS:
        return Message(CHAIN_WORDS[chain.problem], seq=chain.seq)
    return Message("%(problem)s", problem=str(chain))  # a break this module does not know: as audit says it


def verify_instance(session: Session, store: BlobStore, files: bool = True) -> VerifyReport:
    """Re-hash every stored evidence version and dossier (unless `files` is False) and check the audit chain."""
    report = VerifyReport()
    if files:
        report.evidence_checked, report.evidence_problems = verify_blobs(session, store)
        report.dossiers_checked, report.dossier_problems = verify_dossiers(session, store)
    report.events, chain = audit.verify(session)
    report.chain_problem = None if chain is None else chain_words(chain)
    head = session.get(audit.AuditHead, 1)
    if head is not None:
        report.head_seq, report.head_hash = head.seq, head.hash
    return report
