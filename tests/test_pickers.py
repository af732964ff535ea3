"""Picking instead of typing: the searches behind the pickers (accents, case, refs, words, limits), the JSON
endpoint's role limits, mapping many items to a control (one confirmation, one audit event per mapping), the item
page's "Associer" with nothing preselected, the prefilled "Ajouter une preuve" links, the page shown again by a
search made without JavaScript, and the item page's standing in each perimeter."""
import html
import io
import re
from pathlib import Path

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import (
    AuditEvent,
    Control,
    ControlRequirement,
    Evidence,
    EvidenceControl,
    EvidenceRequirement,
    EvidenceVersion,
    Perimeter,
    Requirement,
    User,
)
from evidence.services import controls, gaps, perimeters, search
from evidence.services import users as people

from .conftest import DEMO_DAY, DEMO_DOMAIN, PASSWORD, csrf_token, login

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def world(catalogue_loaded, users):
    """The referential, a perimeter, a control owned by the contributor and one owned by the manager (deployed in
    the perimeter), and Élodie."""
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        contributor = session.get(User, users["contributor"].id)
        manager = session.get(User, users["manager"].id)
        perimeter = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="iaas-t", name="Socle test", service_types=("IaaS",)))
        controls.create_control(session, contributor, controls.ControlData(ref="CTL-AV-01", title="Protection EDR"))
        controls.create_control(session, manager, controls.ControlData(
            ref="CTL-CRY-01", title="Chiffrement des disques", owner_id=manager.id, perimeter_ids=[perimeter.id]))
        people.create_user(session, None, "elodie@example.org", "Élodie Marchand", "contributor", PASSWORD)
    return app


def ids(app, model, column, values):
    with app.app_context(), db.session_scope(app) as session:
        return {value: session.exec(select(model.id).where(column == value)).one() for value in values}


def searched(client, page: str, picker: str, query: str, **fields):
    """A picker's search made without JavaScript, as a browser makes it: the form posted, its token with it, to
    the address the picker's button names (never a GET: the token would land in the address)."""
    text = client.get(page).get_data(as_text=True)
    button = re.search(rf'<button type="submit"[^>]*name="search" value="{picker}"[^>]*>', text).group(0)
    assert "formmethod" not in button  # the form's own method: POST
    action = html.unescape(re.search(r'formaction="([^"#]*)#', button).group(1))
    assert "csrf_token" not in action
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text).group(1)
    return client.post(action, data={"csrf_token": token, "search": picker, f"q_{picker}": query, **fields})


def counts(app) -> dict:
    with app.app_context(), db.session_scope(app) as session:
        return {model.__name__: len(session.exec(select(model)).all())
                for model in (Evidence, EvidenceVersion, Control, ControlRequirement, AuditEvent)}


# --- the searches ----------------------------------------------------------------------------------------


def test_search_ignores_accents_and_case_by_ref_and_by_words(world, users):
    with world.app_context(), db.session_scope(world) as session:
        manager = session.get(User, users["manager"].id)

        def refs(kind, query, **options):
            return [c.ref for c in search.search(session, manager, kind, query, **options).choices]

        assert refs("requirements", "12.4.A")[0] == "12.4.a"  # the ref itself first, whatever its case
        assert all(r.startswith("12.4.") for r in refs("requirements", "12.4.")[:4])
        assert "6.2.a" in refs("requirements", "MAITRISE cumul")  # « Maîtrise … du cumul »: accents and case aside
        assert refs("requirements", "chiffrement DONNEES crypto_b1")[:1] == ["10.1.b"]
        assert refs("requirements", "nothing like this anywhere") == []
        assert refs("controls", "chiffrement") == ["CTL-CRY-01"]
        assert refs("controls", "ctl-av") == ["CTL-AV-01"]
        assert refs("owners", "ELODIE") == ["elodie@example.org"]
        assert refs("owners", "marchand élodie") == ["elodie@example.org"]


def test_owners_are_people_who_can_own_in_french_order(world, users):
    with world.app_context(), db.session_scope(world) as session:
        manager = session.get(User, users["manager"].id)
        names = [c.label for c in search.search(session, manager, "owners", "", limit=50).choices]
    assert "Auditor" not in names  # an auditor reads and never owns
    assert names == sorted(names, key=lambda n: n.replace("É", "E"))  # Élodie among the E, not after Z
    assert names.index("Élodie Marchand") < names.index("Manager")


def test_queries_and_results_are_bounded(world, users):
    with world.app_context(), db.session_scope(world) as session:
        manager = session.get(User, users["manager"].id)
        found = search.search(session, manager, "requirements", "a", limit=10_000)
        assert len(found.choices) == search.MAX_LIMIT and found.more
        found = search.search(session, manager, "requirements", "a", limit=3)
        assert len(found.choices) == 3 and found.more
    assert len(search.clean_query("x" * 5000)) == search.MAX_QUERY
    assert search.clean_query("  chiffrement \t  des   flux ") == "chiffrement des flux"


# --- the JSON endpoint -----------------------------------------------------------------------------------


def test_json_endpoint_answers_only_the_roles_that_fill_a_form(world, client, login_as):
    login_as("auditor")
    for kind in search.KINDS:
        assert client.get(f"/pickers/{kind}?q=a").status_code == 403  # an auditor fills no form
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login_as("contributor")
    assert client.get("/pickers/owners?q=a").status_code == 403  # a contributor's things are his own
    answer = client.get("/pickers/requirements?q=Ma%C3%AETRISE%20cumul").get_json()
    assert "6.2.a" in [r["ref"] for r in answer["results"]] and answer["query"] == "MaîTRISE cumul"
    # Everything a contributor may link evidence to, but only his own controls to map.
    assert [r["ref"] for r in client.get("/pickers/controls?q=ctl").get_json()["results"]] == ["CTL-AV-01", "CTL-CRY-01"]
    assert [r["ref"] for r in client.get("/pickers/controls?q=ctl&editable=1").get_json()["results"]] == ["CTL-AV-01"]
    assert client.get("/pickers/requirements?q=").get_json()["results"] == []  # nothing asked, nothing sent
    long = client.get("/pickers/requirements?q=" + "chiffrement " * 200 + "&limit=999")
    assert long.status_code == 200 and len(long.get_json()["query"]) <= search.MAX_QUERY
    assert len(client.get("/pickers/requirements?q=a&limit=999").get_json()["results"]) == search.MAX_LIMIT


def test_json_endpoint_words_statuses_and_never_lists_an_auditor(world, client, login_as):
    login_as("manager")
    answer = client.get("/pickers/controls?q=CTL-AV").get_json()
    assert answer["results"] == [{"id": answer["results"][0]["id"], "ref": "CTL-AV-01", "label": "Protection EDR",
                                  "detail": "prévue"}]  # the status in words, never `planned`
    owners = client.get("/pickers/owners?browse=1").get_json()["results"]
    assert "auditor@example.org" not in [o["ref"] for o in owners] and "elodie@example.org" in [o["ref"] for o in owners]


# --- mapping many items to a control ---------------------------------------------------------------------


def test_many_items_mapped_after_one_confirmation_one_audit_event_each(world, client, login_as):
    login_as("manager")
    page = searched(client, "/controls/CTL-CRY-01", "requirements", "chiffrement flux").get_data(as_text=True)
    assert re.search(r'type="checkbox" name="requirements" value="10.2.a"', page)  # found by the server, unchecked
    token = csrf_token(client, "/controls/CTL-CRY-01")
    form = {"csrf_token": token, "requirements": ["10.1.a", "10.1.b", "10.2.a"], "statement": "LUKS sur tous les disques"}
    confirm = client.post("/controls/CTL-CRY-01/map", data=form)
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "sera associée à 3 points" in text
    assert all(f'name="requirements" value="{ref}"' in text for ref in ("10.1.a", "10.1.b", "10.2.a"))
    with world.app_context(), db.session_scope(world) as session:
        assert session.exec(select(ControlRequirement)).all() == []  # nothing before the confirmation
    done = client.post("/controls/CTL-CRY-01/map", data={**form, "confirmed": "1"}, follow_redirects=True)
    assert "3 points associés à CTL-CRY-01." in done.get_data(as_text=True)
    with world.app_context(), db.session_scope(world) as session:
        mapped = session.exec(select(Requirement.ref).join(ControlRequirement, ControlRequirement.requirement_id == Requirement.id)).all()
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "control.map")).all()
    assert sorted(mapped) == ["10.1.a", "10.1.b", "10.2.a"]
    assert sorted(e.details["requirement"] for e in events) == ["10.1.a", "10.1.b", "10.2.a"]
    assert all(e.details["statement"] == "LUKS sur tous les disques" for e in events)
    page = searched(client, "/controls/CTL-CRY-01", "requirements", "10.1").get_data(as_text=True)
    assert 'value="10.1.a"' not in page.split('id="requirements-picker"')[1]  # mapped already: not offered again


def test_bulk_mapping_refuses_an_unknown_item_and_maps_nothing(world, client, login_as):
    login_as("manager")
    token = csrf_token(client, "/controls/CTL-CRY-01")
    response = client.post("/controls/CTL-CRY-01/map", data={"csrf_token": token, "requirements": ["10.1.a", "99.9.z"],
                                                             "confirmed": "1"})
    assert response.status_code == 302
    with world.app_context(), db.session_scope(world) as session:
        assert session.exec(select(ControlRequirement)).all() == []
    empty = client.post("/controls/CTL-CRY-01/map", data={"csrf_token": token}, follow_redirects=True)
    assert "Choisissez au moins un point du référentiel." in empty.get_data(as_text=True)


def test_a_contributor_maps_only_his_own_control(world, client, login_as):
    login_as("contributor")
    token = csrf_token(client, "/controls/CTL-AV-01")
    assert client.post("/controls/CTL-CRY-01/map", data={"csrf_token": token, "requirements": "10.1.a",
                                                         "confirmed": "1"}).status_code == 403
    page = searched(client, "/requirements/secnumcloud-3.2/12.4.a", "control", "ctl").get_data(as_text=True)
    assert 'value="CTL-AV-01"' in page and 'value="CTL-CRY-01"' not in page


# --- the item page's "Associer" --------------------------------------------------------------------------


def test_no_control_is_preselected_on_the_item_page(world, client, login_as):
    login_as("manager")
    picker = client.get("/requirements/secnumcloud-3.2/12.4.a").get_data(as_text=True).split(
        'id="control-picker"')[1].split("</fieldset>")[0]
    assert " checked" not in picker and "<select" not in picker
    page = searched(client, "/requirements/secnumcloud-3.2/12.4.a", "control", "CTL").get_data(as_text=True)
    radios = re.findall(r'<input type="radio" name="control" value="([^"]+)"( checked)?>', page)
    assert sorted(value for value, _checked in radios) == ["CTL-AV-01", "CTL-CRY-01"]
    assert not any(checked for _value, checked in radios)  # found, none picked for the user
    token = csrf_token(client, "/requirements/secnumcloud-3.2/12.4.a")
    next_url = "/requirements/secnumcloud-3.2/12.4.a"
    response = client.post("/controls/map", data={"csrf_token": token, "requirement": "12.4.a", "next": next_url},
                           follow_redirects=True)
    assert "Choisissez la mesure à associer à ce point." in response.get_data(as_text=True)
    with world.app_context(), db.session_scope(world) as session:
        assert session.exec(select(ControlRequirement)).all() == []
    client.post("/controls/map", data={"csrf_token": token, "requirement": "12.4.a", "next": next_url,
                                       "control": "CTL-AV-01", "statement": "EDR partout"})
    page = client.get(next_url).get_data(as_text=True)
    assert "CTL-AV-01" in page and "EDR partout" in page


# --- "Ajouter une preuve", prefilled ---------------------------------------------------------------------


def test_add_evidence_links_prefill_the_form(world, client, login_as):
    login_as("manager")
    control_id = ids(world, Control, Control.ref, ["CTL-AV-01"])["CTL-AV-01"]
    assert 'href="/evidence/new?control=CTL-AV-01"' in client.get("/controls/CTL-AV-01").get_data(as_text=True)
    assert 'href="/evidence/new?requirement=12.4.a"' in client.get("/requirements/secnumcloud-3.2/12.4.a").get_data(as_text=True)
    page = client.get("/evidence/new?control=ctl-av-01&requirement=12.4.a").get_data(as_text=True)
    assert f'name="controls" value="{control_id}" checked' in page
    assert 'name="requirements" value="12.4.a" checked' in page
    assert "Une mesure ou un point demandé" not in page
    page = client.get("/evidence/new?control=CTL-NOPE-01&requirement=99.9.z").get_data(as_text=True)
    assert "Une mesure ou un point demandé n’existe pas (ou plus)" in page and " checked" not in page.split(
        'id="controls-picker"')[1].split('id="perimeters')[0]


def test_the_prefilled_choice_can_be_changed_and_is_saved(world, client, login_as, users):
    login_as("manager")
    other = ids(world, Control, Control.ref, ["CTL-CRY-01"])["CTL-CRY-01"]
    token = csrf_token(client, "/evidence/new?control=CTL-AV-01")
    response = client.post("/evidence/new", data={
        "csrf_token": token, "title": "Rapport de chiffrement", "kind": "link", "classification": "internal",
        "owner": str(users["manager"].id), "url": "https://intranet.example/rapport", "controls": [str(other)],
        "requirements": ["10.1.b", "10.1.a"]})
    assert response.status_code == 302, response.get_data(as_text=True)
    with world.app_context(), db.session_scope(world) as session:
        evidence = session.exec(select(Evidence)).one()
        assert session.exec(select(EvidenceControl.control_id).where(EvidenceControl.evidence_id == evidence.id)).all() == [other]
        linked = session.exec(select(Requirement.ref).join(EvidenceRequirement, EvidenceRequirement.requirement_id == Requirement.id)
                              .where(EvidenceRequirement.evidence_id == evidence.id)).all()
    assert sorted(linked) == ["10.1.a", "10.1.b"]
    page = client.get(f"/evidence/{evidence.ref}/edit").get_data(as_text=True)
    assert f'name="controls" value="{other}" checked' in page and 'name="requirements" value="10.1.a" checked' in page


def test_search_without_javascript_keeps_the_other_values(world, client, login_as, users):
    login_as("manager")
    control_id = ids(world, Control, Control.ref, ["CTL-AV-01"])["CTL-AV-01"]
    response = searched(client, "/evidence/new", "requirements", "codes malveillants", title="Rapport EDR",
                        description="Trimestriel", kind="file", classification="internal",
                        owner=str(users["manager"].id), controls=[str(control_id)],
                        file=(io.BytesIO(b"EDR-REPORT-MARKER"), "edr.pdf"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'value="Rapport EDR"' in page and "Trimestriel</textarea>" in page
    assert f'name="controls" value="{control_id}" checked' in page  # the pick made before the search is kept
    assert re.search(r'name="requirements" value="12.4.a">', page)  # the match, offered unchecked
    # The file travelled with the search but is not kept: the page says so beside the field.
    assert "« edr.pdf » n’a pas été enregistré : choisissez ce fichier de nouveau" in page
    assert counts(world)["Evidence"] == 0 and counts(world)["EvidenceVersion"] == 0
    stored = [f for f in Path(world.config["INSTANCE_PATH"]).rglob("*") if f.is_file()]
    assert not any(b"EDR-REPORT-MARKER" in f.read_bytes() for f in stored)
    assert 'src="/static/js/picker.js" defer' in page and "<script>" not in page


# --- the item page, per perimeter ------------------------------------------------------------------------


def test_item_page_shows_each_perimeter_coverage_controls_and_evidence(demo_loaded, client):
    demo_loaded.config["TODAY"] = DEMO_DAY
    login(client, f"helene.dubois@{DEMO_DOMAIN}")  # the auditor reads it too
    page = client.get("/requirements/secnumcloud-3.2/12.4.a").get_data(as_text=True)
    block = page.split('id="perimeters"')[1].split("</section>")[0]
    with demo_loaded.app_context(), db.session_scope(demo_loaded) as session:
        for perimeter in session.exec(select(Perimeter)).all():
            row = next(r for r in gaps.compute(session, perimeter, DEMO_DAY).rows if r.requirement.ref == "12.4.a")
            part = block.split(f'href="/perimeters/{perimeter.code}"')[1].split('class="standing"')[0]
            label = {"covered": "Couvert", "partly_covered": "Partiellement couvert", "not_covered": "Non couvert",
                     "not_applicable": "Non applicable"}[row.status.status]
            assert f'badge-{row.status.status}">{label}<' in part
            assert all(f'href="/controls/{c.ref}"' in part for c in row.controls)
            assert all(f'href="/evidence/{e.ref}"' in part for e in row.evidence)
            assert row.controls and row.evidence  # the demo has both for this item
    assert "Associer une mesure existante" not in page and "Ajouter une preuve" not in page  # an auditor only reads


def test_a_search_never_puts_the_form_token_in_an_address_and_saves_nothing(world, client, login_as, users):
    login_as("manager")
    owner, control_id = str(users["manager"].id), ids(world, Control, Control.ref, ["CTL-CRY-01"])["CTL-CRY-01"]
    evidence = {"title": "Rapport EDR", "kind": "link", "classification": "internal", "owner": owner,
                "url": "https://intranet.example/edr", "controls": [str(control_id)]}
    control = {"ref": "CTL-LOG-01", "title": "Journalisation", "category": "technical", "status": "planned",
               "review_cycle_days": "365"}
    assert client.post("/evidence/new", data={"csrf_token": csrf_token(client, "/evidence/new"),
                                              **evidence}).status_code == 302
    before = counts(world)
    # Each form holding a picker, filled so that saving it would succeed: the search saves nothing.
    for page, picker, fields in [
        ("/evidence/new", "requirements", {**evidence, "title": "Autre rapport"}),
        ("/evidence/new", "owner", {**evidence, "title": "Autre rapport"}),
        ("/evidence/EV-0001/edit", "controls", {**evidence, "title": "Renommée", "version": "1"}),
        ("/controls/new", "owner", control),
        ("/controls/CTL-AV-01/edit", "owner", {**control, "ref": "CTL-AV-01", "title": "Renommée", "version": "1"}),
        ("/controls/CTL-AV-01", "requirements", {"requirements": ["10.1.a"], "statement": "EDR", "confirmed": "1"}),
        ("/requirements/secnumcloud-3.2/12.4.a", "control", {"control": "CTL-AV-01", "statement": "EDR"}),
    ]:
        response = searched(client, page, picker, "a", **fields)
        text = response.get_data(as_text=True)
        assert response.status_code == 200 and "Location" not in response.headers, page
        assert not re.search(r'(?:href|action|formaction|src)="[^"]*csrf_token', text), page
        assert counts(world) == before, page
    assert "Renommée" not in client.get("/evidence/EV-0001").get_data(as_text=True)
    with world.app_context(), db.session_scope(world) as session:
        item = session.exec(select(Requirement.id).where(Requirement.ref == "12.4.a")).first()
    page = searched(client, f"/controls/new?requirement={item}", "owner", "a", **control).get_data(as_text=True)
    assert "La mesure sera associée au point 12.4.a." in page and counts(world) == before  # its address kept
    # The same form without the search button saves: only the search is kept from saving.
    token = csrf_token(client, "/controls/new")
    assert client.post("/controls/new", data={"csrf_token": token, **control}).status_code == 302
    assert counts(world)["Control"] == before["Control"] + 1


def test_a_search_is_a_post_like_any_other(world, client, login_as):
    login_as("manager")
    # Checked for its token like every POST, and the pages that only show accept no other POST.
    refused = client.post("/controls/CTL-AV-01", data={"search": "requirements", "q_requirements": "edr"})
    assert refused.status_code == 400 and "pas authentique" in refused.get_data(as_text=True)
    token = csrf_token(client, "/controls/CTL-AV-01")
    assert client.post("/controls/CTL-AV-01", data={"csrf_token": token}).status_code == 400
    assert client.post("/requirements/secnumcloud-3.2/12.4.a", data={"csrf_token": token}).status_code == 400
    # Nothing searched from the address any more: a GET shows the page as it is.
    page = client.get("/controls/CTL-AV-01?search=requirements&q_requirements=chiffrement").get_data(as_text=True)
    assert 'value="10.1.a"' not in page.split('id="requirements-picker"')[1]
