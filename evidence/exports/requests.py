"""The evidence requests of a perimeter as an XLSX working sheet (the evaluator's): one row per request, its
answers (evidence ref, title, approved version and its SHA-256), in the reader's language.

What the reader may not see stays out: an answer an evaluator cannot see yet (never approved) reads « en cours de
revue », as on the request page (services.requests.rows judged it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from evidence.core.errors import N_, EvidenceError, Message
from evidence.data.files import atomic_write
from evidence.exports.sheet import styled_xlsx
from evidence.presentation import labels, messages
from evidence.services.requests import RequestRow, overdue

COLUMNS = [
    (N_("N°"), 6), (N_("Campagne"), 24), (N_("Point"), 10), (N_("Intitulé du point"), 40), (N_("Mesure"), 28),
    (N_("Demande"), 52), (N_("Demandée par"), 22), (N_("Le"), 12), (N_("Échéance"), 12), (N_("État"), 12),
    (N_("Réponses"), 60), (N_("Acceptée le"), 12),
]
UNDER_REVIEW = N_("en cours de revue")
OVERDUE = N_("en retard")
# The same msgids as presentation.labels.REQUEST_STATUS and CAMPAIGN_KIND, rendered in any language without Flask.
STATUS = {"open": N_("Ouverte"), "answered": N_("Répondue"), "accepted": N_("Acceptée"), "reopened": N_("Rouverte")}
CAMPAIGN_KIND = {"initial": N_("Évaluation initiale"), "surveillance_1": N_("Audit de surveillance (1re année)"),
                 "surveillance_2": N_("Audit de surveillance (2e année)"),
                 "renewal": N_("Évaluation de renouvellement")}
STATUS_FILL = {"open": "FFF1D6", "reopened": "FDE5E5", "answered": "E3ECF8", "accepted": "D9EFE0"}


def _say(message_id: str, locale: str, **params) -> str:
    return messages.render(Message(message_id, **params), locale)


def _answers(row: RequestRow, locale: str) -> str:
    lines = []
    for answer in row.answers:
        if not answer.visible:
            lines.append(_say(UNDER_REVIEW, locale))
        elif answer.version is None:
            lines.append(f"{answer.evidence.ref} « {answer.evidence.title} » — {_say(UNDER_REVIEW, locale)}")
        else:
            version = answer.version
            lines.append(f"{answer.evidence.ref} « {answer.evidence.title} » v{version.number}"
                         + (f" SHA-256 {version.sha256}" if version.sha256 else (f" {version.url}" if version.url else "")))
    return "\n".join(lines)


def sheet_rows(rows: Sequence[RequestRow], locale: str, today) -> list[list[str]]:
    """The sheet's cells; dates as ISO (YYYY-MM-DD: a spreadsheet sorts them, nobody misreads them)."""
    found = []
    for row in rows:
        request, campaign = row.request, row.campaign
        found.append([
            str(request.id),
            f"{_say(CAMPAIGN_KIND[campaign.kind], locale)} · {campaign.centre}" if campaign else "",
            row.requirement.ref if row.requirement else "",
            labels.localised(row.requirement, "title", locale) if row.requirement else "",
            f"{row.control.ref} · {row.control.title}" if row.control else "",
            request.text,
            (row.raised_by.name or row.raised_by.email) if row.raised_by else "",
            request.created_at.date().isoformat(),
            (request.due_date.isoformat() if request.due_date else "")
            + (f" ({_say(OVERDUE, locale)})" if overdue(request, today) else ""),
            _say(STATUS[request.status], locale),
            _answers(row, locale),
            row.accepted_at.date().isoformat() if row.accepted_at else "",
        ])
    return found


def requests_xlsx(rows: Sequence[RequestRow], perimeter, locale: str, today) -> bytes:
    names = [name for name, _w in COLUMNS]
    return styled_xlsx(_say(N_("Demandes"), locale), [(_say(name, locale), width) for name, width in COLUMNS],
                       ((values, STATUS_FILL[row.request.status])
                        for values, row in zip(sheet_rows(rows, locale, today), rows)),
                       names.index(N_("État")) + 1,
                       _say(N_("Demandes de pièces — %(code)s"), locale, code=perimeter.code))


def write_requests(rows: Sequence[RequestRow], perimeter, locale: str, today, path: Path) -> None:
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise EvidenceError(N_("%(path)s : la liste des demandes s’écrit en .xlsx"), path=path, field="output")
    data = requests_xlsx(rows, perimeter, locale, today)
    atomic_write(path, lambda f: f.write(data))
