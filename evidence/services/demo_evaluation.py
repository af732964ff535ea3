"""The demo's evaluation under way: the centre's campaign on a perimeter, its evaluator, what she asked for and
how the team answered, a thread, and a finding raised in place with the provider's action plan. Replayed through
the services the pages call, in the order things happen, so that every page of the workspace has something to show.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from evidence.data.models import Evidence, EvidenceVersion
from evidence.services import campaigns, comments, findings, requests


def load_evaluation(session: Session, users: dict, spec: dict, perimeters: dict, requirements: dict,
                    controls: dict, today: date) -> None:
    if not spec:
        return
    perimeter = perimeters[spec["perimeter"]]
    day = lambda offset: today + timedelta(days=int(offset))  # noqa: E731
    manager = users[spec["by"]]
    campaign_spec = spec["campaign"]
    campaign = campaigns.create_campaign(session, manager, perimeter, campaigns.CampaignData(
        kind=campaign_spec["kind"], centre=campaign_spec["centre"], starts_on=day(campaign_spec["starts_days"]),
        ends_on=day(campaign_spec["ends_days"])))
    evaluator = users[spec["evaluator"]]
    campaigns.set_evaluators(session, manager, campaign, [evaluator.id], today)

    for item in spec.get("requests") or []:
        request = requests.raise_request(session, evaluator, perimeter, requests.RequestData(
            text=item["text"], requirement_id=requirements[item["requirement"]].id if "requirement" in item else None,
            control_id=controls[item["control"]].id if "control" in item else None, due_date=day(item["due_days"])),
            today)
        if "answer" in item:
            requests.answer(session, users[item["answered_by"]], request, item["answer"])
        if item.get("accepted"):
            requests.accept(session, evaluator, request)
        for note in item.get("comments") or []:
            comments.post(session, users[note["by"]], perimeter, "request", request.id, note["body"], today)

    for item in spec.get("findings") or []:
        requirement = requirements[item["requirement"]]
        versions = [v.id for v in session.exec(
            select(EvidenceVersion).join(Evidence, Evidence.id == EvidenceVersion.evidence_id)
            .where(Evidence.ref.in_(item.get("looked_at") or []), EvidenceVersion.approved_at.is_not(None)))]
        finding = findings.raise_finding(session, evaluator, perimeter, requirement, findings.RaisedFinding(
            severity=item["severity"], text=item["text"], version_ids=versions, due_date=day(item["due_days"])), today)
        plan = item.get("action")
        if plan:
            findings.save_action(session, manager, perimeter, findings.ActionData(
                title=plan["title"], description=plan.get("description", ""), owner_id=users[plan["owner"]].id,
                due_date=day(plan["due_days"]), requirement_ids=[requirement.id], finding_ids=[finding.id]))
