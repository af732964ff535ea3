"""Everything `evidence verify` checks, also run by a restore on what it restored.

Each stored evidence version and each rendered dossier is re-hashed against the SHA-256 the database holds,
each version and dossier row is compared with the audit event that recorded its file, and the audit trail's
hash chain is walked up to its head, its seals checked with the instance's key (and, when given, against a head
kept outside the instance).
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
    seals_checked: bool = False  # False when the instance has no key (no SECRET_KEY): the chain alone was checked
    sealed_elsewhere: int = 0  # events before a forced restore, sealed by the lost key (hashes checked only)
    key_id: Optional[str] = None

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
    "unsealed": N_("l’événement d’audit n° %(seq)s n’est pas scellé par la clé de cette instance : la chaîne a été "
                   "réécrite à partir de lui"),
    "seal_missing": N_("l’événement d’audit n° %(seq)s n’a pas de sceau : la chaîne a été réécrite à partir de lui "
                       "(ses sceaux retirés)"),
    "head_unsealed": N_("la tête du journal d’audit (n° %(seq)s) n’est pas scellée par la clé de cette instance"),
    "not_in_chain": N_("la tête conservée n° %(seq)s est au-delà de la chaîne : des événements ont été supprimés"),
    "checkpoint_differs": N_("l’événement d’audit n° %(seq)s diffère de la tête conservée : la chaîne a été "
                             "réécrite"),
    "checkpoint_unsealed": N_("la tête conservée n° %(seq)s n’est pas scellée par la clé de cette instance"),
}


def chain_words(chain) -> Message:
    if chain.problem in CHAIN_WORDS:
        return Message(CHAIN_WORDS[chain.problem], seq=chain.seq)
    return Message("%(problem)s", problem=str(chain))  # a break this module does not know: as audit says it


def verify_instance(session: Session, store: BlobStore, files: bool = True,
                    checkpoint: Optional[dict] = None) -> VerifyReport:
    """Re-hash every stored evidence version and dossier and compare them with the audit trail (unless `files` is
    False), and check the audit chain and its seals (and that it holds `checkpoint`, a head kept outside)."""
    report = VerifyReport()
    if files:
        report.evidence_checked, report.evidence_problems = verify_blobs(session, store)
        report.dossiers_checked, report.dossier_problems = verify_dossiers(session, store)
    key = audit.seal_key_for(session)
    chain = audit.verify_chain(session, key, checkpoint)
    report.events, report.seals_checked = chain.events, chain.seals_checked
    report.sealed_elsewhere = chain.sealed_elsewhere
    report.key_id = audit.key_id(key) if key is not None else None
    report.chain_problem = None if chain.problem is None else chain_words(chain.problem)
    head = session.get(audit.AuditHead, 1)
    if head is not None:
        report.head_seq, report.head_hash = head.seq, head.hash
    return report
