"""Everything `evidence verify` checks, also run by a restore on what it restored.

Each stored evidence version and each rendered dossier is re-hashed against the SHA-256 the database holds,
and the audit trail's hash chain is walked up to its head.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from sqlmodel import Session

from evidence.data import audit
from evidence.data.storage import BlobStore
from evidence.dossier.verify import verify_dossiers
from evidence.services.evidence import verify_blobs


@dataclass
class VerifyReport:
    """What was checked and what was wrong; the stores' counts are None when only the chain was checked."""

    evidence_checked: Optional[int] = None
    evidence_problems: list[str] = field(default_factory=list)
    dossiers_checked: Optional[int] = None
    dossier_problems: list[str] = field(default_factory=list)
    events: int = 0
    head_seq: int = 0
    head_hash: str = audit.GENESIS_HASH
    chain_problem: Optional[str] = None

    @property
    def problems(self) -> list[str]:
        """Every problem, each on one line saying what it is about."""
        return ([f"Evidence {p}" for p in self.evidence_problems] + [f"Dossier {p}" for p in self.dossier_problems]
                + ([f"Audit trail: {self.chain_problem}"] if self.chain_problem is not None else []))


def verify_instance(session: Session, store: BlobStore, files: bool = True) -> VerifyReport:
    """Re-hash every stored evidence version and dossier (unless `files` is False) and check the audit chain."""
    report = VerifyReport()
    if files:
        report.evidence_checked, report.evidence_problems = verify_blobs(session, store)
        report.dossiers_checked, report.dossier_problems = verify_dossiers(session, store)
    report.events, chain = audit.verify(session)
    report.chain_problem = None if chain is None else str(chain)
    head = session.get(audit.AuditHead, 1)
    if head is not None:
        report.head_seq, report.head_hash = head.seq, head.hash
    return report
