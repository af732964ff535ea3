"""Gaps, findings and actions connected: an action created from a gap (or a finding) comes prefilled with the
item and what is missing, and once saved it is linked from the gap list, the item page and the finding; refs in
findings are links; the dashboards' counts open the filtered lists; what a role cannot do is not offered.

On the four-item referential: in iaas-t, 12.4.a has an implemented control (CTL-AV-01) and no evidence, so its
expected evidence 12.4.a#1 and #2 are missing; 5.1.a has no control at all.
"""
from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import Action, ActionControl, ActionFinding, ActionRequirement, Requirement, User
from evidence.services import findings as finding_service
from evidence.services import perimeters

from .conftest import csrf_token, login, seed_tiny_perimeter

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only

TODAY = date(2026, 6, 15)


@pytest.fixture
def tiny(app, users):
    app.config["TODAY"] = TODAY
    with app.app_context(), db.session_scope(app) as session:
        seed_tiny_perimeter(session, users)
    return app


def client_for(app, users, role: str):
    client = app.test_client()
    assert login(client, users[role].email).status_code == 302
    return client


def raise_finding(app, users, ref: str | None, text: str, severity: str = "major") -> int:
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        requirement = session.exec(select(Requirement).where(Requirement.ref == ref)).first() if ref else None
        return finding_service.create_finding(session, session.get(User, users["manager"].id), perimeter,
                                              finding_service.FindingData(severity=severity, text=text,
                                                                          requirement_id=requirement.id if requirement else None)).id


def input_value(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
    match = re.search(r'value="([^"]*)"', tag)
    return html.unescape(match.group(1)) if match else ""


def textarea(page: str, name: str) -> str:
    return html.unescape(re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', page, re.S).group(1)).strip()


def selected(page: str, name: str) -> list[str]:
    """The values chosen in a <select> (or ticked among checkboxes) of that name."""
    found = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    tags = re.findall(r"<option[^>]*>", found.group(1)) if found else re.findall(
        rf'<input[^>]*name="{name}"[^>]*>', page)
    return [re.search(r'value="([^"]*)"', tag).group(1) for tag in tags if re.search(r"\b(selected|checked)\b", tag)]


def test_an_action_from_a_gap_is_prefilled_then_linked_from_the_gap_the_item_and_the_finding(tiny, users):
    finding_id = raise_finding(tiny, users, "12.4.a", "Aucun export EDR présenté pour les postes d’administration.")
    client = client_for(tiny, users, "manager")
    gaps_page = client.get("/perimeters/iaas-t/gaps").get_data(as_text=True)
    link = "/perimeters/iaas-t/actions/new?requirement=12.4.a"
    assert link in gaps_page and "Créer une action" in gaps_page

    form = client.get(link).get_data(as_text=True)
    assert input_value(form, "requirements") == "12.4.a"
    assert "12.4.a" in input_value(form, "title")
    description = textarea(form, "description")
    assert "Écart sur 12.4.a" in description
    assert "(12.4.a#1)" in description and "(12.4.a#2)" in description  # the gap list's sentences, each entry named
    assert selected(form, "controls") and selected(form, "findings") == [str(finding_id)]

    # Saved as shown (the manager only names the owner and a date).
    data = {"csrf_token": csrf_token(client, link), "title": input_value(form, "title"), "description": description,
            "requirements": "12.4.a", "controls": selected(form, "controls"), "findings": [str(finding_id)],
            "owner": str(users["contributor"].id), "due_date": (TODAY + timedelta(days=30)).isoformat(),
            "status": "open", "residual_risk": "medium"}
    saved = client.post(link, data=data)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with tiny.app_context(), db.session_scope(tiny) as session:
        action = session.exec(select(Action)).one()
        assert saved.headers["Location"].endswith(f"/perimeters/iaas-t/actions#action-{action.id}")
        assert session.exec(select(ActionRequirement).where(ActionRequirement.action_id == action.id)).one()
        assert session.exec(select(ActionControl).where(ActionControl.action_id == action.id)).one()
        assert session.exec(select(ActionFinding).where(ActionFinding.action_id == action.id)).one().finding_id == finding_id
        action_id, title = action.id, action.title
    anchor = f"/perimeters/iaas-t/actions#action-{action_id}"
    for page in ("/perimeters/iaas-t/gaps", "/perimeters/iaas-t/verdict/12.4.a", "/perimeters/iaas-t/findings",
                 f"/perimeters/iaas-t/findings/{finding_id}"):
        body = client.get(page).get_data(as_text=True)
        assert html.escape(title) in body, page
        assert anchor in body or f"/perimeters/iaas-t/actions/{action_id}" in body, page
    # The action names its item, control and finding as links.
    plan = client.get("/perimeters/iaas-t/actions").get_data(as_text=True)
    assert "/perimeters/iaas-t/verdict/12.4.a" in plan and "/controls/CTL-AV-01" in plan
    assert f"/perimeters/iaas-t/findings#finding-{finding_id}" in plan
    # The gap row lists its open finding too.
    assert f"/perimeters/iaas-t/findings#finding-{finding_id}" in client.get("/perimeters/iaas-t/gaps").get_data(as_text=True)


def test_an_action_from_a_finding_takes_its_item(tiny, users):
    finding_id = raise_finding(tiny, users, "5.1.a", "La PSSI présentée n’est pas signée.")
    client = client_for(tiny, users, "manager")
    findings_page = client.get("/perimeters/iaas-t/findings").get_data(as_text=True)
    link = f"/perimeters/iaas-t/actions/new?finding={finding_id}"
    assert html.escape(link) in findings_page or link in findings_page
    form = client.get(link).get_data(as_text=True)
    assert input_value(form, "requirements") == "5.1.a"
    assert selected(form, "findings") == [str(finding_id)]
    assert "La PSSI présentée n’est pas signée." in textarea(form, "description")
    assert "aucune mesure" in textarea(form, "description")  # 5.1.a has no control: the gap's reason


def test_refs_in_findings_are_links(tiny, users):
    raise_finding(tiny, users, "12.4.a", "Voir 5.1.a et la mesure CTL-AV-01 ; 99.9.z n’existe pas.", severity="minor")
    body = client_for(tiny, users, "auditor").get("/perimeters/iaas-t/findings").get_data(as_text=True)
    assert '<a href="/perimeters/iaas-t/verdict/5.1.a"><span class="ref">5.1.a</span></a>' in body
    assert '<a href="/controls/CTL-AV-01"><span class="ref">CTL-AV-01</span></a>' in body
    assert '<a href="/perimeters/iaas-t/verdict/12.4.a"><span class="ref">12.4.a</span></a>' in body  # its item
    assert "99.9.z" in body and "verdict/99.9.z" not in body


def test_dashboard_counts_are_links_to_the_filtered_lists(tiny, users):
    raise_finding(tiny, users, "12.4.a", "Constat majeur.")
    raise_finding(tiny, users, None, "Observation générale.", severity="observation")
    with tiny.app_context(), db.session_scope(tiny) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        manager = session.get(User, users["manager"].id)
        for title, days in (("En retard", -3), ("À venir", 20)):
            finding_service.save_action(session, manager, perimeter, finding_service.ActionData(
                title=title, due_date=TODAY + timedelta(days=days)))
    client = client_for(tiny, users, "manager")
    board = html.unescape(client.get("/perimeters/iaas-t/dashboard").get_data(as_text=True))
    for link in ("/perimeters/iaas-t/findings?severity=major&open=1", "/perimeters/iaas-t/findings?severity=observation&open=1",
                 "/perimeters/iaas-t/actions?overdue=1", "/perimeters/iaas-t/actions?status=open",
                 "/perimeters/iaas-t/gaps?status=partly_covered"):
        assert f'href="{link}"' in board, link
    overdue = client.get("/perimeters/iaas-t/actions?overdue=1").get_data(as_text=True)
    assert "En retard" in overdue and "À venir" not in overdue
    majors = client.get("/perimeters/iaas-t/findings?severity=major&open=1").get_data(as_text=True)
    assert "Constat majeur." in majors and "Observation générale." not in majors
    home = html.unescape(client.get("/").get_data(as_text=True))
    assert "/perimeters/iaas-t/gaps?kind=exigence&status=partly_covered" in home
    assert "/perimeters/iaas-t/findings?open=1" in home


def test_what_a_role_cannot_do_is_not_offered(tiny, users):
    finding_id = raise_finding(tiny, users, "12.4.a", "Constat.")
    auditor = client_for(tiny, users, "auditor")
    gaps_page = auditor.get("/perimeters/iaas-t/gaps").get_data(as_text=True)
    assert "Corriger" not in gaps_page and "Créer une action" not in gaps_page and "/actions/new" not in gaps_page
    assert "Déposer une preuve" not in gaps_page and "Associer une mesure" not in gaps_page
    assert "/perimeters/iaas-t/verdict/12.4.a" in gaps_page  # the item's detail stays one click away
    for page in ("/perimeters/iaas-t/verdict/12.4.a", "/perimeters/iaas-t/findings", "/perimeters/iaas-t/actions"):
        body = auditor.get(page).get_data(as_text=True)
        assert "Créer une action" not in body and "Nouvelle action" not in body, page
        assert "/actions/new" not in body, page
    assert auditor.get(f"/perimeters/iaas-t/actions/new?finding={finding_id}").status_code == 403

    contributor = client_for(tiny, users, "contributor")
    gaps_page = contributor.get("/perimeters/iaas-t/gaps").get_data(as_text=True)
    assert "Corriger" in gaps_page and "Déposer une preuve" in gaps_page  # what a contributor may do
    assert "Créer une action" not in gaps_page  # planning is the managers'
    assert contributor.get("/perimeters/iaas-t/actions/new?requirement=12.4.a").status_code == 403
