"""The perimeters an auditor or an evaluator reads (PerimeterGrant): granted by an admin, or for a campaign, whose
dates then bound them. What a grant opens is judged in rules.token_scope; who is granted what is decided here.

A grant runs through its `until` day; a campaign's grants end on its last day (`ends_on`), move with it, and end
on the day it is closed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Optional

from sqlalchemy import delete
from sqlmodel import Session, select

from evidence.core import clock
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import EVALUATOR, SCOPED_ROLES
from evidence.data import audit
from evidence.data.models import Campaign, Perimeter, PerimeterGrant, User

NOT_SCOPED = N_("%(email)s a le rôle « %(role)s », qui voit tous les périmètres : seuls un auditeur ou un "
                "évaluateur reçoivent des périmètres")
UNKNOWN_PERIMETER = N_("aucun périmètre « %(code)s »")
PAST_UNTIL = N_("la date de fin %(until)s est passée : choisissez aujourd’hui ou un jour à venir")
EVALUATOR_NEEDS_PERIMETER = N_("un évaluateur ne voit que les périmètres qu’on lui donne : nommez-en au moins un")
OUTSIDE_CAMPAIGN = N_("la campagne porte sur le périmètre %(campaign_code)s, pas sur « %(code)s »")


@dataclass(frozen=True)
class GrantLine:
    """One grant as the pages and the command line show it."""

    code: str
    name: str
    until: Optional[date]
    campaign_id: Optional[int]


def list_for(session: Session, user: User) -> list[GrantLine]:
    """The perimeters granted to `user`, by code (running or not: the pages show an ended one as ended)."""
    rows = session.exec(select(PerimeterGrant, Perimeter).join(Perimeter, Perimeter.id == PerimeterGrant.perimeter_id)
                        .where(PerimeterGrant.user_id == user.id).order_by(Perimeter.code))
    return [GrantLine(p.code, p.name, g.until, g.campaign_id) for g, p in rows]


def lines_by_user(session: Session) -> dict[int, list[GrantLine]]:
    """Every user's grants at once (the users page: one query, whatever the number of users)."""
    rows = session.exec(select(PerimeterGrant, Perimeter).join(Perimeter, Perimeter.id == PerimeterGrant.perimeter_id)
                        .order_by(Perimeter.code))
    found: dict[int, list[GrantLine]] = {}
    for g, p in rows:
        found.setdefault(g.user_id, []).append(GrantLine(p.code, p.name, g.until, g.campaign_id))
    return found


def _described(lines: Iterable[GrantLine]) -> list[dict]:
    """A grant in an audit event: plain values the chain hashes."""
    return [{"perimeter": line.code, "until": line.until.isoformat() if line.until else None,
             **({"campaign": line.campaign_id} if line.campaign_id else {})} for line in lines]


def _perimeters(session: Session, codes: Iterable[str]) -> list[Perimeter]:
    """The perimeters named, each once, in the order given; an unknown one refused by its name."""
    found: dict[int, Perimeter] = {}
    for code in codes:
        given = (code or "").strip().lower()
        if not given:
            continue
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == given)).first()
        if perimeter is None:
            raise EvidenceError(UNKNOWN_PERIMETER, code=code.strip(), field="perimeters")
        found.setdefault(perimeter.id, perimeter)
    return list(found.values())


def check_new(session: Session, role: str, email: str, perimeter_codes: Iterable[str], until: Optional[date], *,
              today: Optional[date] = None) -> None:
    """Before an account is created with perimeters (the command line, the users page): everything set_grants
    would refuse, and an evaluator given none, refused first, so that a refusal leaves no account half made."""
    codes = [c for c in perimeter_codes if (c or "").strip()]
    if codes and role not in SCOPED_ROLES:
        raise EvidenceError(NOT_SCOPED, email=email, role=role, field="perimeters")
    if role == EVALUATOR and not codes:
        raise EvidenceError(EVALUATOR_NEEDS_PERIMETER, field="perimeters")
    _perimeters(session, codes)
    _check_until(until, today)


def _check_until(until: Optional[date], today: Optional[date]) -> None:
    if until is not None and until < (today or clock.today()):
        raise EvidenceError(PAST_UNTIL, until=until.isoformat(), field="until")


def stage_grants(session: Session, actor: audit.Actor, user: User, perimeter_codes: Iterable[str],
                 until: Optional[date] = None, campaign: Optional[Campaign] = None, *,
                 today: Optional[date] = None) -> list[GrantLine]:
    """set_grants' work without the commit (creating an account grants in the same transaction)."""
    if user.role not in SCOPED_ROLES:
        raise EvidenceError(NOT_SCOPED, email=user.email, role=user.role, field="perimeters")
    perimeters = _perimeters(session, perimeter_codes)
    if campaign is not None:
        until = campaign.ends_on
        for perimeter in perimeters:
            if perimeter.id != campaign.perimeter_id:
                code = session.get(Perimeter, campaign.perimeter_id).code
                raise EvidenceError(OUTSIDE_CAMPAIGN, campaign_code=code, code=perimeter.code, field="perimeters")
    _check_until(until, today)
    before = list_for(session, user)
    existing = list(session.exec(select(PerimeterGrant).where(PerimeterGrant.user_id == user.id)))
    chosen = {perimeter.id for perimeter in perimeters}
    if campaign is not None:
        # A campaign's page grants its own perimeter: what the user holds elsewhere, or for no campaign, stays.
        existing = [g for g in existing if g.campaign_id == campaign.id or g.perimeter_id == campaign.perimeter_id]
    else:
        # A perimeter still chosen that a campaign granted keeps the campaign's dates: the campaign rules them.
        kept = {g.perimeter_id for g in existing if g.campaign_id is not None and g.perimeter_id in chosen}
        existing = [g for g in existing if g.perimeter_id not in kept]
        perimeters = [p for p in perimeters if p.id not in kept]
    for grant in existing:
        session.delete(grant)
    session.flush()
    actor_id = actor.id if isinstance(actor, User) else None
    for perimeter in perimeters:
        session.add(PerimeterGrant(user_id=user.id, perimeter_id=perimeter.id, until=until,
                                   campaign_id=campaign.id if campaign is not None else None,
                                   granted_by_id=actor_id))
    session.flush()
    after = list_for(session, user)
    if before != after:
        audit.record(session, actor, "user.grants", user, {"before": _described(before), "after": _described(after)})
    return after


def set_grants(session: Session, actor: audit.Actor, user: User, perimeter_codes: Iterable[str],
               until: Optional[date] = None, campaign: Optional[Campaign] = None, *,
               today: Optional[date] = None) -> list[GrantLine]:
    """Replace the perimeters `user` (an auditor or an evaluator) reads: those of `perimeter_codes`, through
    `until` (None: no end; one still chosen that a campaign granted keeps the campaign's dates). With a `campaign`, its perimeter only, through its last day and tied to it: the user's
    other grants stay, and an empty list takes back his grant for that campaign. One audited event `user.grants`
    (before and after); committed."""
    after = stage_grants(session, actor, user, perimeter_codes, until, campaign, today=today)
    session.commit()
    return after


def drop_all(session: Session, actor: audit.Actor, user: User) -> None:
    """The user leaves the scoped roles (services.users.stage_role): his grants go in the same transaction, so
    that a return to auditor later does not silently bring back old perimeters."""
    before = list_for(session, user)
    if not before:
        return
    session.execute(delete(PerimeterGrant).where(PerimeterGrant.user_id == user.id))
    audit.record(session, actor, "user.grants", user, {"before": _described(before), "after": []})


def _move_campaign(session: Session, campaign: Campaign, until: date, actor: audit.Actor) -> int:
    grants = list(session.exec(select(PerimeterGrant).where(PerimeterGrant.campaign_id == campaign.id)))
    moved = 0
    for grant in grants:
        if grant.until == until:
            continue
        user = session.get(User, grant.user_id)
        before = list_for(session, user)
        grant.until = until
        session.add(grant)
        session.flush()
        audit.record(session, actor, "user.grants", user,
                     {"before": _described(before), "after": _described(list_for(session, user)),
                      "campaign": campaign.id})
        moved += 1
    return moved


def extend_for_campaign(session: Session, campaign: Campaign, actor: audit.Actor = None) -> int:
    """The campaign's end date changed: the grants tied to it now end on its new last day. In the caller's
    transaction (the campaign's update commits both), each moved grant audited; the number moved."""
    return _move_campaign(session, campaign, campaign.ends_on, actor)


def end_for_campaign(session: Session, campaign: Campaign, day: date, actor: audit.Actor = None) -> int:
    """The campaign is closed on `day`: its grants end that day (through it, not beyond), never later than they
    would have. In the caller's transaction; the number ended."""
    return _move_campaign(session, campaign, min(day, campaign.ends_on), actor)
