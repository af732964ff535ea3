"""The evaluation centre's workspace, end to end in a real browser (see tests/browser_support.py).

An evaluator, granted one perimeter for the campaign, asks for a proof on an item; the control's owner answers
with new evidence; a manager approves it; the evaluator, who could not see the answer while it was in review, now
sees it and accepts the request, then raises a minor non-conformity on another item, pinning the approved version he
read; the provider plans an action on it; the evaluator closes it; the dossier's findings and the request list
(page and working sheet) show it all.

SQLite only, like the other browser tests. Skips (saying why) without Playwright or Chromium.
"""
from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from evidence import catalogue
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Dossier, EvidenceRequest, Finding, FindingEvidence, Requirement, User
from evidence.services import campaigns, controls, perimeters
from evidence.services import evidence as evidence_items
from evidence.services import users as auth

from .browser_support import browser, live_server, log_in, pages  # noqa: F401  (fixtures)
from .conftest import PASSWORD

pytestmark = pytest.mark.sqlite_only  # the browser adds nothing the database matrix of the other tests covers
TINY = Path(__file__).parent / "fixtures" / "tiny-catalogue.yaml"
TODAY = date(2026, 6, 15)
EVALUATOR = "evaluator@example.org"


@pytest.fixture
def evaluation_app(app, users):
    """A perimeter under its initial evaluation: a contributor's control on two items, an approved evidence on the
    second, and the campaign's evaluator granted the perimeter through its last day."""
    app.config["TODAY"] = TODAY
    with app.app_context(), db.session_scope(app) as session:
        catalogue.load_catalogues(session, [TINY], "cli:test")
        second = auth.create_user(session, None, "manager2@example.org", "Second Manager", "manager", PASSWORD)
        manager = session.get(User, users["manager"].id)
        contributor = session.get(User, users["contributor"].id)
        perimeter = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="iaas-e", name="Socle évalué", service_types=("IaaS",), framework_key="tiny-1.0"))
        control = controls.create_control(session, contributor, controls.ControlData(
            ref="CTL-EV-01", title="Protection EDR", status="implemented", owner_id=contributor.id,
            perimeter_ids=[perimeter.id]))
        items = {r.ref: r for r in session.exec(select(Requirement))}
        controls.map_requirement(session, contributor, control, items["12.4.a"], "EDR sur tous les serveurs")
        controls.map_requirement(session, contributor, control, items["5.1.a"], "La politique impose l’EDR")
        policy = evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
            title="Politique antivirale v3", kind="policy", owner_id=contributor.id, control_ids=[control.id],
            requirement_ids=[items["5.1.a"].id]),
            store=storage.get_store(app), upload=io.BytesIO(b"%PDF-1.4 politique"), filename="politique-av.pdf")
        evidence_items.review(session, contributor, policy, "submit")
        evidence_items.review(session, second, policy, "approve")
        campaign = campaigns.create_campaign(session, manager, perimeter, campaigns.CampaignData(
            kind="initial", centre="CESTI Exemple", starts_on=TODAY - timedelta(days=7),
            ends_on=TODAY + timedelta(days=30)))
        campaigns.set_evaluators(session, manager, campaign, [users["evaluator"].id], TODAY)
    return app


@pytest.fixture
def live_url(evaluation_app):
    with live_server(evaluation_app) as url:
        yield url


def log_out(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(re.compile(r"/login$"))


def flash_errors(page) -> list[str]:
    return page.locator(".flash-error").all_inner_texts()


def test_request_answer_finding_and_dossier_in_the_browser(evaluation_app, pages):
    app = evaluation_app
    evaluator = pages.new()
    log_in(evaluator, EVALUATOR)

    # The evaluator asks for a proof from the item's page of his perimeter.
    evaluator.goto("/perimeters/iaas-e/verdict/12.4.a")
    evaluator.get_by_role("link", name="Demander une pièce").click()
    evaluator.fill("#text", "Fournir l’export de la console EDR montrant l’agent actif sur chaque serveur.")
    evaluator.fill("#due_date", (TODAY + timedelta(days=10)).isoformat())
    evaluator.get_by_role("button", name="Envoyer la demande").click()
    evaluator.wait_for_url(re.compile(r"/perimeters/iaas-e/requests/\d+$"))
    assert flash_errors(evaluator) == []
    request_url = evaluator.url
    with app.app_context(), db.session_scope(app) as session:
        asked = session.exec(select(EvidenceRequest)).one()
        owner = session.get(User, asked.assignee_id)
        assert (asked.status, owner.email, asked.campaign_id is not None) == ("open", "contributor@example.org", True)

    # The control's owner finds it in his inbox and answers with new evidence.
    owner_page = pages.new()
    log_in(owner_page, "contributor@example.org")
    owner_page.goto("/inbox/")
    assert "demande une pièce sur 12.4.a" in owner_page.locator("main").inner_text()
    owner_page.get_by_text("Ouvrir", exact=True).first.click()  # the newest event: the request
    owner_page.wait_for_url(re.compile(r"/perimeters/iaas-e/requests/\d+$"))
    owner_page.get_by_role("link", name="Répondre avec une nouvelle preuve").click()
    owner_page.wait_for_url(re.compile(r"/evidence/new\?"))
    owner_page.fill("#title", "Export EDR du 14 juin")
    owner_page.select_option("#kind", "report")
    owner_page.set_input_files("#file", files=[{"name": "export-edr.csv", "mimeType": "text/csv",
                                                "buffer": b"host;agent\nweb-1;actif\nweb-2;actif\n"}])
    owner_page.get_by_role("button", name="Enregistrer").click()
    owner_page.wait_for_url(re.compile(r"/evidence/EV-0002$"))
    assert flash_errors(owner_page) == []
    owner_page.get_by_role("button", name="Soumettre à la revue").click()
    owner_page.wait_for_url(re.compile(r"/evidence/EV-0002$"))

    # Under review, the answer is not the evaluator's to read yet.
    evaluator.goto(request_url)
    main = evaluator.locator("main").inner_text()
    assert "en cours de revue" in main and "EV-0002" not in main
    assert evaluator.goto("/evidence/EV-0002").status == 404

    # A manager approves it (four eyes: the owner may not).
    manager = pages.new()
    log_in(manager, "manager@example.org")
    manager.goto("/evidence/EV-0002")
    manager.get_by_role("button", name="Approuver").click()
    manager.wait_for_url(re.compile(r"/evidence/EV-0002$"))
    assert flash_errors(manager) == []

    # Now the evaluator sees it, and accepts the answer.
    evaluator.goto(request_url)
    assert "EV-0002" in evaluator.locator("main").inner_text()
    evaluator.get_by_role("button", name="Accepter la réponse").click()
    evaluator.wait_for_load_state()
    assert flash_errors(evaluator) == []
    assert "Acceptée" in evaluator.locator("main").inner_text()

    # He raises a minor non-conformity on another item, pinning the approved version he read.
    evaluator.goto("/perimeters/iaas-e/verdict/5.1.a")
    evaluator.get_by_role("link", name="Relever un constat").click()
    evaluator.select_option("#severity", "minor")
    evaluator.fill("#text", "La politique antivirale ne fixe pas le délai de mise à jour des signatures.")
    evaluator.get_by_label(re.compile("EV-0001")).check()
    evaluator.get_by_role("button", name="Relever le constat").click()
    evaluator.wait_for_url(re.compile(r"/perimeters/iaas-e/findings/\d+$"))
    assert flash_errors(evaluator) == []
    finding_url = evaluator.url
    with app.app_context(), db.session_scope(app) as session:
        finding = session.exec(select(Finding)).one()
        pinned = session.exec(select(FindingEvidence).where(FindingEvidence.finding_id == finding.id)).all()
        assert (finding.severity, finding.status, len(pinned)) == ("minor", "open", 1)

    # The provider plans an action on it.
    manager.goto(finding_url)
    manager.get_by_role("link", name="Créer une action").click()
    manager.fill("#title", "Fixer le délai de mise à jour des signatures dans la politique")
    manager.fill("#due_date", (TODAY + timedelta(days=20)).isoformat())
    manager.get_by_role("button", name="Enregistrer").click()
    manager.wait_for_load_state()
    assert flash_errors(manager) == []
    with app.app_context(), db.session_scope(app) as session:
        assert session.get(Finding, finding.id).status == "answered"

    # The evaluator closes it; the team may not have.
    evaluator.goto(finding_url)
    evaluator.get_by_role("button", name="Clore le constat").click()
    with evaluator.expect_navigation():
        evaluator.locator("#confirm-dialog").get_by_role("button", name="Confirmer").click()
    assert flash_errors(evaluator) == []
    with app.app_context(), db.session_scope(app) as session:
        closed = session.get(Finding, finding.id)
        assert (closed.status, session.get(User, closed.closed_by_id).email) == ("closed", EVALUATOR)

    # The request list shows the accepted request, on the page and in the working sheet.
    evaluator.goto("/perimeters/iaas-e/requests")
    listing = evaluator.locator("main").inner_text()
    assert "Acceptée" in listing and "12.4.a" in listing
    with evaluator.expect_download() as sheet:
        evaluator.get_by_role("link", name=re.compile("XLSX|Excel|tableur", re.I)).first.click()
    assert sheet.value.suggested_filename.endswith(".xlsx")
    workbook = load_workbook(io.BytesIO(Path(sheet.value.path()).read_bytes()))
    cells = [str(c) for row in workbook.active.iter_rows(values_only=True) for c in row if c]
    assert "12.4.a" in " ".join(cells) and "EV-0002" in " ".join(cells) and "Acceptée" in cells
    log_out(evaluator)

    # The manager's dossier names the campaign and the closed finding with the version it pins.
    manager.goto("/dossiers/")
    manager.select_option("#perimeter", "iaas-e")
    manager.select_option("#language", "fr")
    manager.get_by_role("button", name="Générer").click()
    manager.wait_for_url(re.compile(r"/dossiers/\d+$"))
    with app.app_context(), db.session_scope(app) as session:
        snapshot = session.exec(select(Dossier)).one().snapshot
    assert snapshot["campaign"]["centre"] == "CESTI Exemple"
    (raised,) = snapshot["findings"]
    assert raised["status"] == "closed" and raised["severity"] == "minor"
    assert [p["ref"] for p in raised["evidence"]] == ["EV-0001"] and raised["campaign"]["centre"] == "CESTI Exemple"
