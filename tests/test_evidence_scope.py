"""Evidence scope and answers: the perimeters a piece of evidence is valid for and the expected-evidence entries it
answers, through the importer, the web form and the service; the approved version recorded on approval."""
from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlmodel import func, select

from evidence import catalogue, importer
from evidence.core.errors import Message
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import (
    AuditEvent,
    Evidence,
    EvidenceAnswer,
    EvidenceControl,
    EvidencePerimeter,
    EvidenceRequirement,
    EvidenceVersion,
    Requirement,
    User,
)
from evidence.presentation.messages import render
from evidence.services import controls, perimeters
from evidence.services.evidence import (
    EvidenceData,
    EvidenceInvalid,
    FieldProblem,
    add_version,
    create_evidence,
    get_evidence,
    review,
)
from evidence.services.evidence_fields import NO_SCOPE as NO_SCOPE_ID

from .conftest import csrf_token, login

TINY = Path(__file__).parent / "fixtures" / "tiny-catalogue.yaml"
LINK = "https://intranet.example/rapport"
NO_SCOPE = "say which perimeters this evidence is valid for: it is linked to no control deployed in one"


@pytest.fixture
def world(app, users, tmp_path):
    """The tiny referential; two perimeters, iaas-t and saas-t; CTL-AV-01 deployed in iaas-t only and mapped to
    12.4.a; CTL-IDLE-01 deployed nowhere; a folder of files for manifests."""
    with app.app_context(), db.session_scope(app) as session:
        catalogue.load_catalogues(session, [TINY], "cli:test")
        manager = session.get(User, users["manager"].id)
        iaas, saas = (perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code=code, name=code, service_types=(kind,), framework_key="tiny-1.0")) for code, kind in
            (("iaas-t", "IaaS"), ("saas-t", "SaaS")))
        control = controls.create_control(session, manager, controls.ControlData(
            ref="CTL-AV-01", title="EDR", status="implemented", perimeter_ids=[iaas.id]))
        idle = controls.create_control(session, manager, controls.ControlData(
            ref="CTL-IDLE-01", title="En projet", status="implemented"))
        items = {r.ref: r.id for r in session.exec(select(Requirement))}
        controls.map_requirement(session, manager, control, session.get(Requirement, items["12.4.a"]), "EDR partout")
        ids = {"iaas": iaas.id, "saas": saas.id, "control": control.id, "idle": idle.id, **items}
    root = tmp_path / "files"
    root.mkdir()
    (root / "edr.pdf").write_bytes(b"%PDF-1.4 export EDR")
    (root / "pssi.pdf").write_bytes(b"%PDF-1.4 PSSI signee")
    return SimpleNamespace(app=app, users=users, ids=ids, root=root, tmp=tmp_path)


def write_manifest(path: Path, rows: list[dict]) -> Path:
    names = list(dict.fromkeys(name for row in rows for name in row))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=names, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_cli(world, manifest: Path, *args):
    return world.app.test_cli_runner().invoke(args=["import", str(manifest), "--root", str(world.root), *args])


def import_rows(world, role: str, rows: list[dict]):
    manifest = write_manifest(world.tmp / "manifest.csv", rows)
    with world.app.app_context(), db.session_scope(world.app) as session:
        actor = session.get(User, world.users[role].id)
        return importer.run_import(session, storage.get_store(world.app), actor, manifest, world.root,
                                   origin="cli:test")


def links(app) -> dict:
    """Every evidence's perimeters (codes) and answers (entry ids), by ref."""
    with app.app_context(), db.session_scope(app) as session:
        refs = dict(session.exec(select(Evidence.id, Evidence.ref)).all())
        codes = {p.id: p.code for p in perimeters.list_perimeters(session)}
        found = {ref: {"perimeters": [], "answers": []} for ref in refs.values()}
        for link in session.exec(select(EvidencePerimeter)):
            found[refs[link.evidence_id]]["perimeters"].append(codes[link.perimeter_id])
        for answer in session.exec(select(EvidenceAnswer)):
            found[refs[answer.evidence_id]]["answers"].append(answer.entry_id)
    return {ref: {k: sorted(v) for k, v in value.items()} for ref, value in found.items()}


def counts(app) -> dict:
    with app.app_context(), db.session_scope(app) as session:
        return {model.__name__: session.exec(select(func.count()).select_from(model)).one()
                for model in (Evidence, EvidenceVersion, EvidenceControl, EvidenceRequirement, EvidencePerimeter,
                              EvidenceAnswer, AuditEvent)}


def post_form(world, role: str, fields: dict):
    client = world.app.test_client()
    assert login(client, f"{role}@example.org").status_code == 302
    data = {"csrf_token": csrf_token(client, "/evidence/new"), "title": "Rapport", "kind": "link",
            "classification": "internal", "owner": "", "requirements": "", "url": LINK, **fields}
    return client.post("/evidence/new", data=data)


def field_errors(page: str) -> list[tuple[str, str]]:
    return [(name, html.unescape(text)) for name, text in
            re.findall(r'<p class="field-error" id="([a-z_]+)-error">(.*?)</p>', page, re.S)]


# --- (a) the importer's perimeters and answers columns -----------------------------------------------------


def test_the_importer_lands_perimeters_and_answers_and_a_rerun_changes_nothing(world):
    manifest = write_manifest(world.tmp / "m.csv", [
        # No perimeters: those of its control; an answer of the item its control is mapped to.
        {"file": "edr.pdf", "title": "Export EDR", "controls": "CTL-AV-01", "answers": "12.4.a#1"},
        # Two perimeters named (either separator, any case) and two answers of the item it is linked to.
        {"file": "pssi.pdf", "title": "PSSI", "requirements": "5.1.a", "perimeters": "iaas-t; SAAS-T",
         "answers": "5.1.a#1;5.1.a#2"},
        # Named perimeters win over its control's.
        {"url": LINK, "title": "Tableau", "controls": "CTL-AV-01", "perimeters": "saas-t"},
    ])
    result = run_cli(world, manifest)
    assert result.exit_code == 0, result.output
    assert "3 new evidence, 0 new version(s), 0 unchanged, 0 error(s)" in result.stdout
    assert links(world.app) == {
        "EV-0001": {"perimeters": ["iaas-t"], "answers": ["12.4.a#1"]},
        "EV-0002": {"perimeters": ["iaas-t", "saas-t"], "answers": ["5.1.a#1", "5.1.a#2"]},
        "EV-0003": {"perimeters": ["saas-t"], "answers": []},
    }
    with world.app.app_context(), db.session_scope(world.app) as session:
        answers = session.exec(select(EvidenceAnswer.entry_id, EvidenceAnswer.requirement_id)
                               .order_by(EvidenceAnswer.entry_id)).all()
        assert answers == [("12.4.a#1", world.ids["12.4.a"]), ("5.1.a#1", world.ids["5.1.a"]),
                           ("5.1.a#2", world.ids["5.1.a"])]  # each entry with the item it belongs to
        events = {e.object_id: e.details for e in session.exec(
            select(AuditEvent).where(AuditEvent.action == "evidence.create"))}
        assert (events["EV-0001"]["perimeters"], events["EV-0001"]["answers"]) == (["iaas-t"], ["12.4.a#1"])
        assert (events["EV-0002"]["perimeters"], events["EV-0002"]["answers"]) == (
            ["iaas-t", "saas-t"], ["5.1.a#1", "5.1.a#2"])

    before = counts(world.app)
    again = run_cli(world, manifest)
    assert again.exit_code == 0, again.output
    assert "0 new evidence, 0 new version(s), 3 unchanged, 0 error(s)" in again.stdout
    assert counts(world.app) == before
    assert links(world.app)["EV-0002"] == {"perimeters": ["iaas-t", "saas-t"], "answers": ["5.1.a#1", "5.1.a#2"]}


@pytest.mark.parametrize("values, column, value, message", [
    ({"perimeters": "iaas-t;nowhere"}, "perimeters", "nowhere", "no perimeter 'nowhere'"),
    # 12.4.b is not linked to this evidence, directly or through a control.
    ({"requirements": "5.1.a", "answers": "5.1.a#1;12.4.b#1"}, "answers", "12.4.b#1",
     "'12.4.b#1' is not an expected evidence entry of the items this evidence supports"),
    # 12.4.a is linked only to CTL-AV-01: not to this evidence, which has no control.
    ({"requirements": "5.1.a", "answers": "12.4.a#1"}, "answers", "12.4.a#1", "'12.4.a#1' is not an expected evidence entry"),
    ({"requirements": "5.1.a", "answers": "5.1.a#9"}, "answers", "5.1.a#9", "'5.1.a#9' is not an expected evidence entry"),
    # No perimeter, and its only control is deployed nowhere.
    ({"perimeters": "", "controls": "CTL-IDLE-01"}, "perimeters", "", NO_SCOPE),
    ({"ref": "EV-0001", "perimeters": "", "answers": "5.1.a#1", "title": ""}, "answers", "5.1.a#1",
     "a row with a ref only adds a version"),
])
def test_bad_perimeters_and_answers_are_refused_naming_row_column_and_value(world, values, column, value, message):
    with world.app.app_context(), db.session_scope(world.app) as session:
        manager = session.get(User, world.users["manager"].id)
        create_evidence(session, manager, EvidenceData(title="Existante", kind="link", perimeter_ids=[world.ids["iaas"]]),
                        url=LINK + "/0")
    before = counts(world.app)
    manifest = write_manifest(world.tmp / "m.csv", [
        {"file": "edr.pdf", "title": "Bonne", "perimeters": "iaas-t"},
        {"file": "pssi.pdf", "title": "Mauvaise", "perimeters": "iaas-t", **values},
    ])
    result = run_cli(world, manifest)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("row ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"row 3, column {column}, value {importer.show_value(value)}: {message}"), lines
    assert "1 new evidence, 0 new version(s), 0 unchanged, 1 error(s)" in result.stdout
    after = counts(world.app)
    assert (after["Evidence"], after["EvidencePerimeter"], after["EvidenceAnswer"]) == (
        before["Evidence"] + 1, before["EvidencePerimeter"] + 1, before["EvidenceAnswer"])  # only the good row


def test_every_bad_perimeter_and_answer_of_a_row_is_named(world):
    result = import_rows(world, "manager", [{"url": LINK, "title": "T", "requirements": "5.1.a",
                                             "perimeters": "nowhere;iaas-t;elsewhere",
                                             "answers": "5.1.a#2;12.4.a#2;zz#1"}])
    (outcome,) = result.outcomes
    assert outcome.action == importer.ERROR
    assert [(e.row, e.column, e.value) for e in outcome.errors] == [
        (2, "perimeters", "nowhere"), (2, "perimeters", "elsewhere"), (2, "answers", "12.4.a#2"), (2, "answers", "zz#1")]


# --- (b) the web form and the importer refuse the same input the same way ----------------------------------


# (case, web form fields, manifest values, field, message, value at fault as the importer names it)
DOORS = [
    ("unknown perimeter", lambda ids: {"perimeters": [str(ids["iaas"]), "99999"]},
     {"perimeters": "iaas-t;nowhere"}, "perimeters", "no perimeter 'nowhere'", "nowhere"),
    ("answer of an item not linked", lambda ids: {"perimeters": [str(ids["iaas"])], "requirements": "5.1.a",
                                                  "answers": ["5.1.a#1", "12.4.b#1"]},
     {"perimeters": "iaas-t", "requirements": "5.1.a", "answers": "5.1.a#1;12.4.b#1"}, "answers",
     "'12.4.b#1' is not an expected evidence entry of the items this evidence supports", "12.4.b#1"),
    ("answer of an item only another control is mapped to",
     lambda ids: {"controls": [str(ids["idle"])], "perimeters": [str(ids["iaas"])], "requirements": "5.1.a",
                  "answers": ["12.4.a#1"]},
     {"controls": "CTL-IDLE-01", "perimeters": "iaas-t", "requirements": "5.1.a", "answers": "12.4.a#1"}, "answers",
     "'12.4.a#1' is not an expected evidence entry", "12.4.a#1"),
    ("no perimeter and a control deployed nowhere", lambda ids: {"controls": [str(ids["idle"])]},
     {"controls": "CTL-IDLE-01"}, "perimeters", NO_SCOPE, None),
    ("no perimeter and no control", lambda ids: {}, {}, "perimeters", NO_SCOPE, None),
]


@pytest.mark.parametrize("case, form_fields, row_values, field, message, value", DOORS, ids=[c[0] for c in DOORS])
def test_the_form_and_the_importer_refuse_the_same_perimeters_and_answers(
        world, case, form_fields, row_values, field, message, value):
    response = post_form(world, "manager", form_fields(world.ids))
    assert response.status_code == 200, case  # the form again
    web = field_errors(response.get_data(as_text=True))

    result = import_rows(world, "manager", [{"url": LINK, "title": "Rapport", **row_values}])
    (outcome,) = result.outcomes
    assert outcome.action == importer.ERROR
    imported = [(e.column, e.message) for e in outcome.errors]

    assert [name for name, _text in web] == [column for column, _text in imported] == [field]
    assert message in render(imported[0][1], "en")
    # The same sentence in the web's language, naming the element at fault as each door got it (the form by id).
    said = imported[0][1]
    as_posted = {"unknown perimeter": "99999"}.get(case, value)
    assert web[0][1] == render(Message(said.id, **{k: as_posted if v == value else v for k, v in said.params.items()}),
                               "fr")
    if value is not None:
        assert outcome.errors[0].value == value
    assert counts(world.app)["Evidence"] == 0


def test_an_answer_refused_when_the_evidence_supports_no_item_is_shown_on_the_form(world):
    response = post_form(world, "manager", {"perimeters": [str(world.ids["iaas"])], "answers": ["5.1.a#1"]})
    assert response.status_code == 200
    web = field_errors(response.get_data(as_text=True))
    assert [name for name, _text in web] == ["answers"]


def test_the_form_lands_perimeters_and_answers(world):
    response = post_form(world, "manager", {"perimeters": [str(world.ids["saas"])], "controls": [str(world.ids["control"])],
                                            "requirements": "5.1.a", "answers": ["5.1.a#2", "12.4.a#2"]})
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    assert links(world.app) == {"EV-0001": {"perimeters": ["saas-t"], "answers": ["12.4.a#2", "5.1.a#2"]}}
    client = world.app.test_client()
    login(client, "auditor@example.org")
    page = client.get("/evidence/EV-0001").get_data(as_text=True)
    assert "saas-t" in page and "5.1.a#2" in page and "12.4.a#2" in page


# --- (c) the scope of new evidence -------------------------------------------------------------------------


def test_new_evidence_without_perimeters_takes_its_controls_perimeters(world):
    with world.app.app_context(), db.session_scope(world.app) as session:
        manager = session.get(User, world.users["manager"].id)
        evidence = create_evidence(session, manager, EvidenceData(
            title="Export EDR", kind="link", control_ids=[world.ids["control"], world.ids["idle"]]), url=LINK)
        scope = session.exec(select(EvidencePerimeter.perimeter_id).where(
            EvidencePerimeter.evidence_id == evidence.id)).all()
        assert scope == [world.ids["iaas"]]  # where CTL-AV-01 is deployed; not saas-t, where no control is
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence.create")).one()
        assert event.details["perimeters"] == ["iaas-t"]
        # Given perimeters are taken as they are, whatever the controls.
        named = create_evidence(session, manager, EvidenceData(
            title="Autre", kind="link", control_ids=[world.ids["control"]], perimeter_ids=[world.ids["saas"]]), url=LINK)
        assert session.exec(select(EvidencePerimeter.perimeter_id).where(
            EvidencePerimeter.evidence_id == named.id)).all() == [world.ids["saas"]]


@pytest.mark.parametrize("control", [None, "idle"], ids=["no control", "a control deployed nowhere"])
def test_new_evidence_with_neither_perimeters_nor_a_deployed_control_is_refused(world, control):
    before = counts(world.app)
    with world.app.app_context(), db.session_scope(world.app) as session:
        manager = session.get(User, world.users["manager"].id)
        with pytest.raises(EvidenceInvalid) as refused:
            create_evidence(session, manager, EvidenceData(
                title="Sans périmètre", kind="link", control_ids=[world.ids[control]] if control else []), url=LINK)
        assert refused.value.problems == (FieldProblem("perimeters", Message(NO_SCOPE_ID)),)
        session.rollback()
    assert counts(world.app) == before  # nothing written, not even an audit event


# --- (d) approval pins the approved version ------------------------------------------------------------------


def test_approval_records_the_version_and_a_new_version_leaves_it_on_the_earlier_one(world):
    app = world.app
    store = storage.get_store(app)
    with app.app_context(), db.session_scope(app) as session:
        contributor = session.get(User, world.users["contributor"].id)
        manager = session.get(User, world.users["manager"].id)
        admin = session.get(User, world.users["admin"].id)
        evidence = create_evidence(session, contributor, EvidenceData(
            title="Export EDR", kind="report", control_ids=[world.ids["control"]]),
            store=store, upload=io.BytesIO(b"%PDF-1.4 v1"), filename="v1.pdf")
        review(session, contributor, evidence, "submit")
        review(session, manager, evidence, "approve", "conforme")

        (first,) = session.exec(select(EvidenceVersion).where(EvidenceVersion.evidence_id == evidence.id)).all()
        assert first.approved_by_id == manager.id and first.approved_at is not None
        assert first.approved_at == get_evidence(session, evidence.ref).reviewed_at
        approved_at = first.approved_at
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence.approve")).one()
        assert (event.object_id, event.details["version"], event.details["to"]) == (evidence.ref, 1, "approved")

        second = add_version(session, contributor, get_evidence(session, evidence.ref), store=store,
                             upload=io.BytesIO(b"%PDF-1.4 v2"), filename="v2.pdf")
        assert get_evidence(session, evidence.ref).status == "draft"
        session.refresh(first)
        assert (second.number, second.approved_at, second.approved_by_id) == (2, None, None)
        assert (first.approved_at, first.approved_by_id) == (approved_at, manager.id)  # the earlier approval stays

        # A rejection approves nothing; approving the new version pins it, and the first keeps its own approval.
        # (Another reviewer than the first: the admin, with ADMIN_APPROVES.)
        evidence = get_evidence(session, evidence.ref)
        review(session, contributor, evidence, "submit")
        review(session, admin, evidence, "reject", "illisible", admin_approves=True)
        session.refresh(second)
        assert second.approved_at is None
        review(session, contributor, evidence, "reopen")
        review(session, contributor, evidence, "submit")
        review(session, admin, evidence, "approve", admin_approves=True)
        session.refresh(first)
        session.refresh(second)
        assert second.approved_by_id == admin.id and second.approved_at is not None
        assert (first.approved_at, first.approved_by_id) == (approved_at, manager.id)
        versions = [e.details["version"] for e in session.exec(
            select(AuditEvent).where(AuditEvent.action == "evidence.approve").order_by(AuditEvent.seq))]
        assert versions == [1, 2]
