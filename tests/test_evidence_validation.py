"""One rule per evidence field, whichever door: the same bad input through the web form and through a manifest
row is refused the same way, naming the same field; good input lands the same, nothing cut or replaced."""
from __future__ import annotations

import csv
import html
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlmodel import func, select

from evidence import catalogue, importer
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import Evidence, EvidenceControl, EvidencePerimeter, User
from evidence.presentation.messages import render
from evidence.services import users as auth
from evidence.services.controls import ControlData, create_control, get_control, update_control
from evidence.services.evidence import EvidenceData, EvidenceInvalid, create_evidence, get_evidence, update_evidence
from evidence.services.perimeters import PerimeterData, create_perimeter

from .conftest import PASSWORD, csrf_token, login

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only

LINK = "https://intranet.example/rapport"
TINY = Path(__file__).parent / "fixtures" / "tiny-catalogue.yaml"
PERIMETER = "iaas-t"


@pytest.fixture
def world(app, users, tmp_path):
    """One user per role, a disabled manager, a perimeter (of the tiny referential), a live control deployed in
    it and a retired control deployed nowhere; a folder for the manifests."""
    with app.app_context(), db.session_scope(app) as session:
        catalogue.load_catalogues(session, [TINY], "cli:test")
        manager = session.get(User, users["manager"].id)
        gone = auth.create_user(session, None, "gone@example.org", "Gone", "manager", PASSWORD)
        auth.set_active(session, None, gone, False)
        perimeter = create_perimeter(session, manager, PerimeterData(code=PERIMETER, name="Socle", service_types=("IaaS",),
                                                                     framework_key="tiny-1.0"))
        live = create_control(session, manager, ControlData(ref="CTL-LIVE-01", title="Live", status="implemented",
                                                            perimeter_ids=[perimeter.id]))
        old = create_control(session, manager, ControlData(ref="CTL-OLD-01", title="Old", status="retired"))
        ids = {"gone": gone.id, "manager": manager.id, "live": live.id, "old": old.id, "perimeter": perimeter.id}
    root = tmp_path / "files"
    root.mkdir()
    return SimpleNamespace(app=app, users=users, ids=ids, root=root, tmp=tmp_path)


def post_form(world, role: str, fields: dict):
    client = world.app.test_client()
    assert login(client, f"{role}@example.org").status_code == 302
    data = {"csrf_token": csrf_token(client, "/evidence/new"), "title": "Rapport", "kind": "link",
            "classification": "internal", "owner": "", "requirements": "", "url": LINK,
            "perimeters": [str(world.ids["perimeter"])], **fields}
    return client.post("/evidence/new", data=data)


def field_errors(page: str) -> list[tuple[str, str]]:
    """(field, message) of every error the form shows beside a field."""
    return [(name, html.unescape(text)) for name, text in
            re.findall(r'<p class="field-error" id="([a-z_]+)-error">(.*?)</p>', page, re.S)]


def import_row(world, role: str, values: dict):
    manifest = world.tmp / "manifest.csv"
    row = {"url": LINK, "title": "Rapport", "perimeters": PERIMETER, **values}
    with open(manifest, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    with world.app.app_context(), db.session_scope(world.app) as session:
        actor = session.get(User, world.users[role].id)
        return importer.run_import(session, storage.get_store(world.app), actor, manifest, world.root,
                                   origin="cli:test")


def evidence_count(app) -> int:
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(func.count()).select_from(Evidence)).one()


# (case, role, web form fields, manifest values, field, message in English); the web form gives ids, the manifest
# words.
CASES = [
    ("retired control", "manager", lambda ids: {"controls": [str(ids["old"])]}, {"controls": "CTL-OLD-01"},
     "controls", "control CTL-OLD-01 is retired"),
    ("disabled owner", "manager", lambda ids: {"owner": str(ids["gone"])}, {"owner": "gone@example.org"},
     "owner", "this user is disabled"),
    ("title over 300 characters", "manager", lambda ids: {"title": "x" * 301}, {"title": "x" * 301},
     "title", "the title is longer than 300 characters"),
    ("contributor naming another owner", "contributor", lambda ids: {"owner": str(ids["manager"])},
     {"owner": "manager@example.org"}, "owner", "a contributor's evidence is their own"),
    ("valid until before the effective date", "manager",
     lambda ids: {"effective_date": "2025-06-30", "valid_until": "2025-01-01"},
     {"effective_date": "2025-06-30", "valid_until": "2025-01-01"}, "valid_until",
     "the 'valid until' date is before the effective date"),
    ("ftp link", "manager", lambda ids: {"url": "ftp://files.example/rapport"}, {"url": "ftp://files.example/rapport"},
     "url", "only https:// addresses are accepted"),
]


@pytest.mark.parametrize("case, role, form_fields, row_values, field, message", CASES, ids=[c[0] for c in CASES])
def test_the_same_bad_input_is_refused_the_same_way_by_the_form_and_the_importer(
        world, case, role, form_fields, row_values, field, message):
    response = post_form(world, role, form_fields(world.ids))
    assert response.status_code == 200, case  # the form again, not a redirect to new evidence
    web = field_errors(response.get_data(as_text=True))

    result = import_row(world, role, row_values)
    (outcome,) = result.outcomes
    assert outcome.action == importer.ERROR
    imported = [(e.column, e.message) for e in outcome.errors]

    assert [name for name, _text in web] == [column for column, _text in imported] == [field]
    assert message in render(imported[0][1], "en")
    assert web[0][1] == render(imported[0][1], "fr")  # the same words, in the web's language
    assert evidence_count(world.app) == 0


def test_good_input_lands_the_same_and_whole_through_both_doors(world):
    title = "é" * 300  # exactly the limit: kept whole, never cut
    # No perimeter named: both take the perimeter their control is deployed in.
    response = post_form(world, "contributor", {"title": title, "controls": [str(world.ids["live"])], "perimeters": []})
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    result = import_row(world, "contributor", {"title": title + " ", "controls": "ctl-live-01",
                                               "url": LINK + "/2", "perimeters": ""})
    assert [o.action for o in result.outcomes] == [importer.NEW_EVIDENCE], importer.error_lines(result)
    with world.app.app_context(), db.session_scope(world.app) as session:
        rows = session.exec(select(Evidence).order_by(Evidence.ref)).all()
        assert [(e.title, e.owner_id, e.kind) for e in rows] == [(title, world.users["contributor"].id, "link")] * 2
        links = session.exec(select(EvidenceControl.control_id).order_by(EvidenceControl.evidence_id)).all()
        assert links == [world.ids["live"]] * 2
        scopes = session.exec(select(EvidencePerimeter.perimeter_id).order_by(EvidencePerimeter.evidence_id)).all()
        assert scopes == [world.ids["perimeter"]] * 2


def test_every_problem_is_named_at_once_and_nothing_is_cut_on_update(world):
    with world.app.app_context(), db.session_scope(world.app) as session:
        manager = session.get(User, world.users["manager"].id)
        scope = [world.ids["perimeter"]]
        evidence = create_evidence(session, manager, EvidenceData(title="Rapport", kind="link", perimeter_ids=scope),
                                   url=LINK)
        with pytest.raises(EvidenceInvalid) as refused:
            update_evidence(session, manager, evidence, EvidenceData(
                title="y" * 301, kind="memo", owner_id=world.ids["gone"], control_ids=[world.ids["old"], 99_999],
                perimeter_ids=scope + [99_998],
            ), evidence.version)
        assert [(p.field, p.value) for p in refused.value.problems] == [
            ("title", None), ("kind", None), ("owner", None), ("controls", "CTL-OLD-01"), ("controls", 99_999),
            ("perimeters", 99_998)]
        session.rollback()
        assert get_evidence(session, evidence.ref).title == "Rapport"


def test_a_control_retired_since_it_was_linked_does_not_block_editing(world):
    """What the evidence already has is kept as it is; only what is named anew must be usable."""
    with world.app.app_context(), db.session_scope(world.app) as session:
        manager = session.get(User, world.users["manager"].id)
        create_evidence(session, manager, EvidenceData(title="Rapport", kind="link", control_ids=[world.ids["live"]]),
                        url=LINK)
        control = get_control(session, "CTL-LIVE-01")
        update_control(session, manager, control, ControlData(ref="CTL-LIVE-01", title="Live", status="retired"),
                       control.version)
    client = world.app.test_client()
    login(client, "manager@example.org")
    page = client.get("/evidence/EV-0001/edit").get_data(as_text=True)
    assert f'name="controls" value="{world.ids["live"]}" checked' in page  # still picked in the controls picker
    perimeter = str(world.ids["perimeter"])  # its scope, taken from the control when it was created, is checked
    assert re.search(rf'<input checked id="perimeters-\d+" name="perimeters" type="checkbox" value="{perimeter}">', page)
    token = csrf_token(client, "/evidence/EV-0001/edit")
    with world.app.app_context(), db.session_scope(world.app) as session:
        version = get_evidence(session, "EV-0001").version
    response = client.post("/evidence/EV-0001/edit", data={
        "csrf_token": token, "version": str(version), "title": "Rapport révisé", "kind": "link",
        "classification": "internal", "owner": str(world.ids["manager"]), "requirements": "",
        "controls": [str(world.ids["live"])], "perimeters": [perimeter]})
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    with world.app.app_context(), db.session_scope(world.app) as session:
        evidence = get_evidence(session, "EV-0001")
        assert evidence.title == "Rapport révisé"
        assert session.exec(select(EvidenceControl.control_id)).all() == [world.ids["live"]]
    # Naming the retired control for other evidence is refused.
    response = post_form(world, "manager", {"controls": [str(world.ids["live"])]})
    assert field_errors(response.get_data(as_text=True)) == [("controls", "la mesure CTL-LIVE-01 est retirée")]
