"""Evaluation campaigns: an evaluation of a perimeter by a centre (initial, surveillance year 1 or 2, renewal),
with its dates. It groups the evaluators' requests and findings, moves the perimeter's phase, and bounds the
access of the evaluators granted for it (services.grants: their grants end with it, move with its end date, and
end on the day it is closed).

At most one campaign runs (is not closed) per perimeter at a time: the requests and findings raised meanwhile
belong to it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Optional

from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError, check_version
from evidence.core.text import bounded
from evidence.core.vocabulary import CAMPAIGN_KINDS, EVALUATOR, MAX_NAME
from evidence.data import audit
from evidence.data.models import Campaign, Perimeter, PerimeterGrant, User, utcnow
from evidence.services import grants

# The perimeter's phase while a campaign of each kind runs.
PHASE_OF_KIND = {"initial": "under_evaluation", "renewal": "under_evaluation",
                 "surveillance_1": "surveillance", "surveillance_2": "surveillance"}


@dataclass
class CampaignData:
    kind: str
    centre: str
    starts_on: Optional[date]
    ends_on: Optional[date]


def _checked(data: CampaignData) -> dict:
    if data.kind not in CAMPAIGN_KINDS:
        raise EvidenceError(N_("type de campagne « %(kind)s » inconnu (l’un de : %(kinds)s)"), kind=data.kind,
                            kinds=", ".join(CAMPAIGN_KINDS), field="kind")
    if not (data.centre or "").strip():
        raise EvidenceError(N_("nommez le centre d’évaluation"), field="centre")
    if data.starts_on is None:
        raise EvidenceError(N_("une campagne a une date de début"), field="starts_on")
    if data.ends_on is None:
        raise EvidenceError(N_("une campagne a une date de fin"), field="ends_on")
    if data.ends_on < data.starts_on:
        raise EvidenceError(N_("la campagne finit le %(ends)s, avant de commencer le %(starts)s"),
                            ends=data.ends_on.isoformat(), starts=data.starts_on.isoformat(), field="ends_on")
    return {"kind": data.kind, "centre": bounded(data.centre, MAX_NAME, N_("Centre d'évaluation"), "centre"),
            "starts_on": data.starts_on, "ends_on": data.ends_on}


def running(session: Session, perimeter: Perimeter | int) -> Optional[Campaign]:
    """The perimeter's campaign that is not closed, if any (the one new requests and findings belong to)."""
    perimeter_id = perimeter if isinstance(perimeter, int) else perimeter.id
    return session.exec(select(Campaign).where(Campaign.perimeter_id == perimeter_id, Campaign.closed_at.is_(None))
                        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())).first()


def latest(session: Session, perimeter: Perimeter) -> Optional[Campaign]:
    """The running campaign, else the last one closed: what the dossier names."""
    return running(session, perimeter) or session.exec(
        select(Campaign).where(Campaign.perimeter_id == perimeter.id)
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())).first()


def list_for(session: Session, perimeter: Perimeter) -> list[Campaign]:
    return list(session.exec(select(Campaign).where(Campaign.perimeter_id == perimeter.id)
                             .order_by(Campaign.starts_on.desc(), Campaign.id.desc())))


def get_campaign(session: Session, perimeter: Perimeter, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.perimeter_id != perimeter.id:
        raise EvidenceError(N_("%(code)s n’a pas de campagne n° %(id)s"), code=perimeter.code, id=campaign_id)
    return campaign


def _details(campaign: Campaign, perimeter: Perimeter) -> dict:
    return {"perimeter": perimeter.code, "kind": campaign.kind, "centre": campaign.centre,
            "starts_on": campaign.starts_on.isoformat(), "ends_on": campaign.ends_on.isoformat()}


def _follow_phase(session: Session, actor, perimeter: Perimeter, campaign: Campaign) -> None:
    """The perimeter's phase follows the campaign (and its centre and start date, when not yet written): audited
    as the perimeter's change, like the perimeter form's."""
    values = {"phase": PHASE_OF_KIND[campaign.kind]}
    if PHASE_OF_KIND[campaign.kind] == "under_evaluation":
        if not perimeter.evaluation_centre:
            values["evaluation_centre"] = campaign.centre
        if perimeter.evaluation_started_on is None:
            values["evaluation_started_on"] = campaign.starts_on
    changes = audit.diff(perimeter, values)
    if not changes:
        return
    for key, value in values.items():
        setattr(perimeter, key, value)
    perimeter.updated_at = utcnow()
    session.add(perimeter)
    audit.record(session, actor, "perimeter.update", perimeter, {"changes": changes, "campaign": campaign.id})


def create_campaign(session: Session, actor, perimeter: Perimeter, data: CampaignData) -> Campaign:
    values = _checked(data)
    other = running(session, perimeter)
    if other is not None:
        raise EvidenceError(N_("la campagne n° %(id)s du périmètre %(code)s est en cours : clôturez-la avant d’en "
                               "ouvrir une autre"), id=other.id, code=perimeter.code, field="kind")
    campaign = Campaign(perimeter_id=perimeter.id, created_by_id=actor.id if isinstance(actor, User) else None,
                        **values)
    session.add(campaign)
    session.flush()
    audit.record(session, actor, "campaign.create", object_type="campaign", object_id=str(campaign.id),
                 details=_details(campaign, perimeter))
    _follow_phase(session, actor, perimeter, campaign)
    session.commit()
    return campaign


def update_campaign(session: Session, actor, campaign: Campaign, data: CampaignData,
                    expected_version: Optional[int] = None) -> Campaign:
    """Its kind, centre and dates; a new end date moves the end of the access granted for it."""
    check_version(campaign, expected_version)
    if campaign.closed_at is not None:
        raise EvidenceError(N_("la campagne n° %(id)s est clôturée : elle ne change plus"), id=campaign.id)
    values = _checked(data)
    changes = audit.diff(campaign, values)
    if not changes:
        return campaign
    for key, value in values.items():
        setattr(campaign, key, value)
    campaign.updated_at = utcnow()
    session.add(campaign)
    session.flush()
    perimeter = session.get(Perimeter, campaign.perimeter_id)
    audit.record(session, actor, "campaign.update", object_type="campaign", object_id=str(campaign.id),
                 details={"perimeter": perimeter.code, "changes": changes})
    if "ends_on" in changes:
        grants.extend_for_campaign(session, campaign, actor)
    if "kind" in changes:
        _follow_phase(session, actor, perimeter, campaign)
    session.commit()
    return campaign


def close_campaign(session: Session, actor, campaign: Campaign, today: date) -> Campaign:
    """Closed today: the access granted for it ends today (its evaluators keep reading through the day)."""
    if campaign.closed_at is not None:
        raise EvidenceError(N_("la campagne n° %(id)s est déjà clôturée"), id=campaign.id)
    campaign.closed_at = utcnow()
    campaign.updated_at = campaign.closed_at
    session.add(campaign)
    session.flush()
    perimeter = session.get(Perimeter, campaign.perimeter_id)
    ended = grants.end_for_campaign(session, campaign, today, actor)
    audit.record(session, actor, "campaign.close", object_type="campaign", object_id=str(campaign.id),
                 details={"perimeter": perimeter.code, "closed_on": today.isoformat(), "grants_ended": ended})
    session.commit()
    return campaign


def evaluators_of(session: Session, campaign: Campaign) -> list[User]:
    """The evaluators granted for this campaign."""
    return list(session.exec(select(User).join(PerimeterGrant, PerimeterGrant.user_id == User.id)
                             .where(PerimeterGrant.campaign_id == campaign.id).order_by(User.name, User.email)))


def evaluator_accounts(session: Session) -> list[User]:
    """The accounts the campaign page offers: active evaluators."""
    return list(session.exec(select(User).where(User.role == EVALUATOR, User.active).order_by(User.name, User.email)))


def set_evaluators(session: Session, actor, campaign: Campaign, user_ids: Iterable[int], today: date) -> list[User]:
    """The evaluators who read the perimeter for this campaign, through its last day: those named are granted
    (services.grants), those no longer named lose the campaign's grant. One transaction; each change audited
    (`user.grants`)."""
    if campaign.closed_at is not None:
        raise EvidenceError(N_("la campagne n° %(id)s est clôturée : elle ne change plus"), id=campaign.id)
    perimeter = session.get(Perimeter, campaign.perimeter_id)
    wanted = {int(i) for i in user_ids}
    for user_id in sorted(wanted):
        user = session.get(User, user_id)
        if user is None or user.role != EVALUATOR:
            raise EvidenceError(N_("le compte n° %(id)s n’est pas un évaluateur"), id=user_id, field="evaluators")
        grants.stage_grants(session, actor, user, [perimeter.code], campaign=campaign, today=today)
    for user in evaluators_of(session, campaign):
        if user.id not in wanted:
            grants.stage_grants(session, actor, user, [], campaign=campaign, today=today)
    session.commit()
    return evaluators_of(session, campaign)
