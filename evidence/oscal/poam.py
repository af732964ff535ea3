"""A perimeter's action plan as an OSCAL plan of action and milestones.

Each action is a POA&M item with a risk whose deadline is the action's due date and whose remediation is a
milestone task held by the action's owner (a party of the metadata); the findings it answers are related to it.
Each evaluation centre's finding appears among the plan's findings (the same UUIDs as in the assessment results),
and a finding no action answers yet is an item of its own, due when the centre asked.
"""
from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

import evidence.oscal.assessment as assessment
import evidence.oscal.catalog as catalog
import evidence.oscal.common as common
import evidence.oscal.ids as ids
import evidence.oscal.ssp as ssp
from evidence.data.models import (
    Action,
    ActionControl,
    ActionFinding,
    ActionRequirement,
    Control,
    Finding,
    Framework,
    Perimeter,
    Requirement,
    User,
)
from evidence.presentation import labels

TITLE = _l("Plan d’action — %(code)s · %(name)s")
RISK_STATEMENT = _l("Risque résiduel : %(risk)s.")
MILESTONE = _l("Échéance de l’action")
UNANSWERED = _l("Aucune action n’y répond encore.")
NOTHING = _l("Aucune action planifiée et aucun constat ouvert.")
FINDING_ITEM = _l("Traiter le constat n° %(number)s — %(severity)s")
ITEMS = _l("Points concernés : %(refs)s.")
CONTROLS = _l("Mesures concernées : %(refs)s.")
# OSCAL's risk states for the product's action states; a cancelled action closes its risk without remedying it.
RISK_STATUS = {"open": "open", "in_progress": "remediating", "done": "closed", "cancelled": "closed"}
LIFECYCLE = {"open": "planned", "in_progress": "planned", "done": "completed", "cancelled": "completed"}


def build(session: Session, perimeter: Perimeter, *, organisation: str, lang: str, reader, today: date) -> dict:
    """The POA&M of `perimeter` (call under force_locale(lang)). `reader` and `today` are the other models'; the
    plan holds no evidence content and no computed coverage."""
    framework = session.get(Framework, perimeter.framework_id)
    control_ids = catalog.framework_ids(session, framework)
    org = organisation.strip()
    provider = common.provider_party(organisation)
    centre = common.organisation_party(perimeter.evaluation_centre or str(common.ROLE_TITLES["assessor"]),
                                       organisation, "evaluation-centre")
    # Sorted here, not in SQL: databases put actions without a due date first or last, and compare text differently.
    actions = sorted(session.exec(select(Action, User).outerjoin(User, User.id == Action.owner_id)
                                  .where(Action.perimeter_id == perimeter.id)),
                     key=lambda pair: (pair[0].due_date is None, pair[0].due_date or date.min, pair[0].id))
    findings = list(session.exec(
        select(Finding, Requirement.ref).outerjoin(Requirement, Requirement.id == Finding.requirement_id)
        .where(Finding.perimeter_id == perimeter.id).order_by(Finding.id)))
    action_ids = [action.id for action, _owner in actions] or [-1]
    answered = {}  # action id -> finding ids
    for action_id, finding_id in session.exec(select(ActionFinding.action_id, ActionFinding.finding_id)
                                              .where(ActionFinding.action_id.in_(action_ids))
                                              .order_by(ActionFinding.finding_id)):
        answered.setdefault(action_id, []).append(finding_id)
    items_of = _refs(session, select(ActionRequirement.action_id, Requirement.ref).join(
        Requirement, Requirement.id == ActionRequirement.requirement_id).where(ActionRequirement.action_id.in_(action_ids))
        .order_by(Requirement.order), ordered=True)
    controls_of = _refs(session, select(ActionControl.action_id, Control.ref).join(
        Control, Control.id == ActionControl.control_id).where(ActionControl.action_id.in_(action_ids)))
    owners = {user.id: common.person_party(user, organisation) for _action, user in actions if user is not None}
    finding_uuid = {f.id: assessment.finding_uuid(org, perimeter.code, f) for f, _ref in findings}

    items, risks = [], []
    for action, owner in actions:
        risk_uuid = ids.derived("risk", org, perimeter.code, "action", action.id)
        task = {"uuid": ids.derived("task", org, perimeter.code, "action", action.id), "type": "milestone",
                "title": str(MILESTONE)}
        if action.due_date:
            task["timing"] = {"on-date": {"date": common.day(action.due_date)}}
        if owner is not None:
            task["responsible-roles"] = [{"role-id": "action-owner", "party-uuids": [owners[owner.id]["uuid"]]}]
        remediation = {"uuid": ids.derived("response", org, perimeter.code, "action", action.id),
                       "lifecycle": LIFECYCLE.get(action.status, "planned"), "title": action.title,
                       "description": common.text(action.description, action.title), "tasks": [task]}
        risk = {"uuid": risk_uuid, "title": action.title, "description": common.text(action.description, action.title),
                "statement": str(RISK_STATEMENT) % {"risk": labels.text(labels.RESIDUAL_RISK, action.residual_risk or "")},
                "props": common.props(common.prop("residual-risk", action.residual_risk)),
                "status": RISK_STATUS.get(action.status, "open")}
        if not risk["props"]:
            del risk["props"]
        if action.due_date:
            risk["deadline"] = common.day(action.due_date)
        risk["remediations"] = [remediation]
        risks.append(risk)
        details = [str(ITEMS) % {"refs": ", ".join(items_of[action.id])} if items_of.get(action.id) else "",
                   str(CONTROLS) % {"refs": ", ".join(controls_of[action.id])} if controls_of.get(action.id) else ""]
        item = {"uuid": ids.derived("poam-item", org, perimeter.code, "action", action.id), "title": action.title,
                "description": common.text(action.description, action.title),
                "props": common.props(common.prop("action-status", action.status),
                                      common.prop("due-date", action.due_date and action.due_date.isoformat()),
                                      *[common.prop("item", control_ids[ref]) for ref in items_of.get(action.id, ())
                                        if ref in control_ids])}
        common.put(item, "related-findings", [{"finding-uuid": finding_uuid[i]} for i in answered.get(action.id, ())
                                              if i in finding_uuid])
        item["related-risks"] = [{"risk-uuid": risk_uuid}]
        common.put(item, "remarks", " ".join(d for d in details if d))
        item["origins"] = [{"actors": [{"type": "party", "actor-uuid": provider["uuid"]}]}]
        items.append(item)

    handled = {i for ids_ in answered.values() for i in ids_}
    for finding, _ref in findings:
        if finding.id in handled or finding.status == "closed":
            continue
        words = str(FINDING_ITEM) % {"number": finding.id, "severity": labels.text(labels.SEVERITY, finding.severity)}
        risk_uuid = ids.derived("risk", org, perimeter.code, "finding", finding.id)
        risk = {"uuid": risk_uuid, "title": words, "description": common.text(finding.text, words),
                "statement": str(UNANSWERED), "props": [common.prop("severity", finding.severity)], "status": "open"}
        if finding.due_date:
            risk["deadline"] = common.day(finding.due_date)
        risks.append(risk)
        items.append({"uuid": ids.derived("poam-item", org, perimeter.code, "finding", finding.id), "title": words,
                      "description": common.text(finding.text, words),
                      "props": common.props(common.prop("severity", finding.severity),
                                            common.prop("due-date", finding.due_date and finding.due_date.isoformat())),
                      "related-findings": [{"finding-uuid": finding_uuid[finding.id]}],
                      "related-risks": [{"risk-uuid": risk_uuid}], "remarks": str(UNANSWERED),
                      "origins": [{"actors": [{"type": "party", "actor-uuid": centre["uuid"]}]}]})

    last_modified = common.latest([perimeter.updated_at, *(a.updated_at for a, _o in actions),
                                   *(f.updated_at for f, _r in findings)])
    parties = [provider, *owners.values()] + ([centre] if perimeter.evaluation_centre or findings else [])
    body = {
        "metadata": common.metadata(
            str(TITLE) % {"code": perimeter.code, "name": perimeter.name}, last_modified, common.stamp(last_modified),
            parties, ["prepared-by", "action-owner", "assessor"],
            {"prepared-by": [provider["uuid"]], "assessor": [centre["uuid"]] if centre in parties else []},
            meta_props=[common.prop("framework", framework.key), common.prop("language", lang)]),
        "system-id": {"identifier-type": f"{ids.NS}:perimeter", "id": perimeter.code},
    }
    common.put(body, "risks", risks)
    common.put(body, "findings", [assessment.centre_finding(f, ref, perimeter, control_ids, {}, centre, org)
                                  for f, ref in findings])
    # OSCAL wants at least one item: a plan with nothing to do says so.
    body["poam-items"] = items or [{"uuid": ids.derived("poam-item", org, perimeter.code, "none"),
                                    "title": str(NOTHING), "description": str(NOTHING)}]
    return common.sealed("plan-of-action-and-milestones", body, org, perimeter.code, lang, ssp.system_uuid(org, perimeter.code))


def _refs(session: Session, query, ordered: bool = False) -> dict[int, list[str]]:
    """action id → refs; `ordered`: in the query's order (the referential's), else sorted (control refs)."""
    found: dict[int, list[str]] = {}
    for action_id, ref in session.exec(query):
        found.setdefault(action_id, []).append(ref)
    return found if ordered else {action_id: sorted(refs) for action_id, refs in found.items()}
