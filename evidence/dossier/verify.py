"""Re-hashing the stored dossiers: `evidence verify` and a restore check that every PDF is still the one rendered."""
from __future__ import annotations

from sqlmodel import Session, select

from evidence.data.models import Dossier, Perimeter


def verify_dossiers(session: Session, store) -> tuple[int, list[str]]:
    """(dossiers checked, a line for each stored PDF that is missing or no longer matches its SHA-256)."""
    problems, checked = [], 0
    for dossier, code in session.exec(
        select(Dossier, Perimeter.code).join(Perimeter, Perimeter.id == Dossier.perimeter_id)
        .where(Dossier.status == "done").order_by(Perimeter.code, Dossier.number)
    ):
        checked += 1
        verdict = store.verify(dossier.storage_key, dossier.sha256)
        if verdict:
            problems.append(f"{code} v{dossier.number}: {verdict} PDF {dossier.storage_key}")
    return checked, problems
