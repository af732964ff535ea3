"""Limits on what a user or a file may make the server do: each refused with a message naming the limit, before
the work it would cost (issue 16, findings 10 to 13)."""
from __future__ import annotations

import tracemalloc
import zipfile

import pytest

from evidence.core.errors import EvidenceError
from evidence.importer import ManifestLimits, read_manifest

# --- manifests (finding 11) --------------------------------------------------------------------------------------


def write_xlsx(path, rows):
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["file", "title"])
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def test_a_manifest_with_more_rows_than_the_setting_is_refused_before_the_rest_is_read(tmp_path):
    path = tmp_path / "m.xlsx"
    write_xlsx(path, ([f"f{i}.pdf", f"T{i}"] for i in range(3_000)))
    assert len(read_manifest(path, ManifestLimits(max_rows=3_000))) == 3_000
    with pytest.raises(EvidenceError) as refused:
        read_manifest(path, ManifestLimits(max_rows=2_999))
    assert "2999" in str(refused.value) and "EVIDENCE_MANIFEST_MAX_ROWS" in str(refused.value)
    assert str(refused.value).startswith("m.xlsx : ")


def test_empty_rows_count_towards_the_row_limit(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("file,title\n" + "\n" * 500 + "a.pdf,A\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match="EVIDENCE_MANIFEST_MAX_ROWS"):
        read_manifest(path, ManifestLimits(max_rows=100))


def test_a_zip_that_unpacks_past_the_limit_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (20 * 1024 * 1024))  # 20 MB of blanks, ~20 KB zipped
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(EvidenceError) as refused:
            read_manifest(path, ManifestLimits(max_bytes=1024 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "EVIDENCE_MANIFEST_MAX_BYTES" in str(refused.value) and "bomb.xlsx" in str(refused.value)
    assert peak < 2 * 1024 * 1024  # nothing was inflated


def test_a_csv_larger_than_the_limit_is_refused(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("file,title\n" + "a.pdf,A\n" * 1000, encoding="utf-8")
    with pytest.raises(EvidenceError, match="EVIDENCE_MANIFEST_MAX_BYTES"):
        read_manifest(path, ManifestLimits(max_bytes=1000))


def test_overlong_cells_and_rows_are_refused_naming_the_row(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("file,title\na.pdf," + "x" * 40_000 + "\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match="ligne 2"):
        read_manifest(path)
    path.write_text("file,title\na.pdf,A" + ",x" * 100 + "\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match="ligne 2"):
        read_manifest(path)


# --- the mapping statement (finding 10) ---------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_the_statement_limit_holds_on_a_control_created_from_an_item(catalogue_loaded, client, login_as):
    from sqlmodel import select

    from evidence.core.vocabulary import MAX_STATEMENT
    from evidence.data import database as db
    from evidence.data.models import Control, ControlRequirement, Requirement

    from .conftest import csrf_token

    login_as("manager")
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        item = session.exec(select(Requirement.id).where(Requirement.ref == "12.4.a")).first()
    fields = {"csrf_token": csrf_token(client, "/controls/new"), "ref": "CTL-AV-09", "title": "Passerelle",
              "category": "technical", "status": "planned", "owner": "", "review_cycle_days": "365"}
    page = client.post(f"/controls/new?requirement={item}", data={**fields, "statement": "x" * (MAX_STATEMENT + 1)})
    assert page.status_code == 200
    assert "10000" in page.get_data(as_text=True).replace("\u202f", "").replace(" ", "")
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        assert session.exec(select(Control)).all() == []  # refused whole: no control without its mapping
        assert session.exec(select(ControlRequirement)).all() == []
    response = client.post(f"/controls/new?requirement={item}", data={**fields, "statement": "x" * MAX_STATEMENT})
    assert response.status_code == 302


def test_every_door_to_a_mapping_checks_the_statement():
    from evidence.core.vocabulary import MAX_STATEMENT
    from evidence.services.controls import check_statement

    assert check_statement("  Revue trimestrielle  ") == "Revue trimestrielle"
    assert len(check_statement("x" * MAX_STATEMENT)) == MAX_STATEMENT
    with pytest.raises(EvidenceError) as refused:
        check_statement("x" * (MAX_STATEMENT + 1))
    assert refused.value.field == "statement"


# --- numbers and redirects (finding 12) ---------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["inf", "-inf", "nan", "1e308", "1e999", "101", "-1", "abc", "9" * 400])
def test_a_share_that_is_no_finite_percentage_is_refused_not_a_crash(typed):
    from evidence.services.sovereignty.registers import percent_to_bp

    with pytest.raises(EvidenceError) as refused:
        percent_to_bp(typed, "Capital", "capital")
    assert refused.value.field == "capital"


def test_shares_within_range_are_kept():
    from evidence.services.sovereignty.registers import percent_to_bp

    assert [percent_to_bp(v, "Capital", "capital") for v in ("0", "12,5", "33.33 %", "100")] == [0, 1250, 3333, 10000]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("target", ["/requirements%0d%0aSet-Cookie:%20x=1", "/x%0aLocation:%20//evil.example",
                                    "/ok%7f", "/tab%09here"])
def test_a_next_with_a_control_character_goes_home_instead_of_failing(app, client, users, target):
    from urllib.parse import unquote

    from .conftest import PASSWORD, csrf_token

    token = csrf_token(client)
    response = client.post("/locale/en", data={"csrf_token": token, "next": unquote(target)})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    response = client.post(f"/login?next={target}", data={"email": users["manager"].email, "password": PASSWORD,
                                                           "csrf_token": token, "next": unquote(target)})
    assert response.status_code == 302 and response.headers["Location"] == "/"


# --- search words (finding 13) ------------------------------------------------------------------------------------


def test_a_search_looks_for_each_word_once_and_for_a_bounded_number_of_words():
    from evidence.core.text import MAX_SEARCH_WORDS, matches, search_words

    hundred = " ".join("abcdefghijklmnopqrstuvwxyz"[i % 26] for i in range(100))
    assert search_words(hundred) == tuple(sorted(set(hundred.split())))[:MAX_SEARCH_WORDS]
    assert len(search_words(" ".join(f"mot{i}" for i in range(500)))) == MAX_SEARCH_WORDS
    assert search_words("Sécurité sec SECURITE e") == ("securite",)  # the others are inside it
    assert matches("sec e", "Politique de sécurité") and not matches("sec z", "Politique de sécurité")
    assert search_words("") == () and matches("", "anything")


def test_the_referential_search_folds_each_item_once_whatever_the_words(monkeypatch):
    from types import SimpleNamespace

    from evidence.catalogue import browse

    items = [SimpleNamespace(ref=f"1.{i}", title="Contrôle d’accès" if i % 2 else "Journalisation", title_en="",
                             summary="", summary_en="", official_text="", condition="", condition_en="",
                             expected_evidence=[]) for i in range(10)]
    folded = []
    real = browse.searchable_text
    monkeypatch.setattr(browse, "searchable_text", lambda r: folded.append(r) or real(r))
    found = browse.search(items, " ".join(["a"] * 100 + ["acces"]))
    assert [r.ref for r in found] == [f"1.{i}" for i in range(1, 10, 2)]
    assert len(folded) == len(items)


# --- one limit per free text, in the service (finding 10, "limits everywhere") -----------------------------------


def _service_calls():
    """(what is written, limit, refused field, call(session, world, text)): every free text a service stores."""
    from datetime import date

    from evidence.core import vocabulary as V
    from evidence.dossier import generate
    from evidence.services import controls, findings, perimeters, sovereignty, users, waivers
    from evidence.services import evidence as evidence_items

    def control(**fields):
        return lambda s, w, text: controls.create_control(s, w.manager, controls.ControlData(
            ref="CTL-LIM-01", **{"title": "Mesure", **{k: text for k in fields}}))

    def finding(name):
        return lambda s, w, text: findings.create_finding(s, w.manager, w.perimeter, findings.FindingData(
            severity="minor", **{"text": "Constat", name: text}))

    def action(name):
        return lambda s, w, text: findings.save_action(s, w.manager, w.perimeter, findings.ActionData(
            **{"title": "Action", name: text}))

    def perimeter(name):
        return lambda s, w, text: perimeters.create_perimeter(s, w.manager, perimeters.PerimeterData(
            code="paas-lim", service_types=("PaaS",), framework_key="tiny-1.0", **{"name": "P", name: text}))

    def holder(name):
        return lambda s, w, text: sovereignty.save_holder(s, w.manager, sovereignty.HolderData(
            **{"name": "Holding", "country": "FR", name: text}), notify=False)

    def subcontractor(name, **more):
        return lambda s, w, text: sovereignty.save_subcontractor(s, w.manager, sovereignty.SubcontractorData(
            **{"name": "Sous-traitant", "country": "FR", "technical_data_access": False,
               "access_justification": "Aucun accès", **more, name: text}), notify=False)

    def foreign_link(name):
        return lambda s, w, text: sovereignty.save_foreign_link(s, w.manager, sovereignty.ForeignLinkData(
            **{"body": "Agence", "country": "US", name: text}), notify=False)

    def change_notice(s, w, text):
        change = sovereignty.save_change(s, w.manager, sovereignty.ChangeData("legal", date(2026, 1, 5), "Cession"))
        return sovereignty.add_notice(s, w.manager, change, None, date(2026, 1, 6), text, today=date(2026, 2, 1))

    return {
        "control title": (V.MAX_TITLE, "title", control(title=1)),
        "control description": (V.MAX_DESCRIPTION, "description", control(description=1)),
        "mapping statement": (V.MAX_STATEMENT, "statement", lambda s, w, text: controls.map_requirement(
            s, w.manager, w.control, w.item, text)),
        "finding text": (V.MAX_DESCRIPTION, "text", finding("text")),
        "finding response": (V.MAX_DESCRIPTION, "response", finding("response")),
        "action title": (V.MAX_TITLE, "title", action("title")),
        "action description": (V.MAX_DESCRIPTION, "description", action("description")),
        "waiver justification": (V.MAX_JUSTIFICATION, "justification", lambda s, w, text: waivers.set_waiver(
            s, w.manager, w.perimeter, w.item, "12.4.a#2", text)),
        "perimeter name": (V.MAX_NAME, "name", perimeter("name")),
        "perimeter description": (V.MAX_DESCRIPTION, "description", perimeter("description")),
        "evaluation centre": (V.MAX_NAME, "evaluation_centre", perimeter("evaluation_centre")),
        "qualification reference": (V.MAX_REFERENCE, "qualification_reference", perimeter("qualification_reference")),
        "applicability justification": (V.MAX_JUSTIFICATION, "justification", lambda s, w, text:
                                        perimeters.set_applicability(s, w.manager, w.perimeter, w.saas_item,
                                                                     "applicable", text)),
        "verdict justification": (V.MAX_JUSTIFICATION, "justification", lambda s, w, text: perimeters.set_verdict(
            s, w.manager, w.perimeter, w.item, "covered", text)),
        "seat city": (V.MAX_CITY, "city", lambda s, w, text: sovereignty.set_seat(
            s, w.manager, "registered_office", "FR", city=text, notify=False)),
        "seat address": (V.MAX_LINE, "address", lambda s, w, text: sovereignty.set_seat(
            s, w.manager, "registered_office", "FR", address=text, notify=False)),
        "holder name": (V.MAX_NAME, "name", holder("name")),
        "holder notes": (V.MAX_JUSTIFICATION, "notes", holder("notes")),
        "subcontractor name": (V.MAX_NAME, "name", subcontractor("name")),
        "subcontractor service": (V.MAX_LINE, "service", subcontractor("service")),
        "contract reference": (V.MAX_REFERENCE, "contract_ref", subcontractor("contract_ref")),
        "access justification": (V.MAX_JUSTIFICATION, "access_justification", subcontractor("access_justification")),
        "parent company": (V.MAX_NAME, "parent_name", subcontractor("parent_name", parent_country="FR")),
        "qualification decision": (V.MAX_REFERENCE, "qualification_decision", subcontractor(
            "qualification_decision", qualified=True, qualification_date=date(2025, 1, 1))),
        "autonomy arrangements": (V.MAX_JUSTIFICATION, "autonomy_arrangements", subcontractor(
            "autonomy_arrangements", own_skills=True)),
        "foreign body": (V.MAX_NAME, "body", foreign_link("body")),
        "foreign link nature": (V.MAX_JUSTIFICATION, "nature", foreign_link("nature")),
        "foreign link assessment": (V.MAX_JUSTIFICATION, "assessment", foreign_link("assessment")),
        "no-link statement": (V.MAX_JUSTIFICATION, "statement", lambda s, w, text:
                              sovereignty.declare_no_foreign_links(s, w.manager, text)),
        "change description": (sovereignty.MAX_CHANGE, "description", lambda s, w, text: sovereignty.save_change(
            s, w.manager, sovereignty.ChangeData("legal", date(2026, 1, 5), text))),
        "notice means": (V.MAX_LINE, "means", change_notice),
        "user name": (V.MAX_NAME, "name", lambda s, w, text: users.create_user(
            s, None, f"u{len(text)}@example.org", text, "contributor")),
        "review comment": (V.MAX_JUSTIFICATION, "comment", lambda s, w, text: evidence_items.review(
            s, w.manager, evidence_items.create_evidence(s, w.manager, evidence_items.EvidenceData(
                title="Lien", kind="link", control_ids=[w.control.id]), url="https://soc.example.internal/"),
            "submit", text)),
        "dossier marking": (V.MAX_MARKING, "marking", lambda s, w, text: generate.queue(
            s, w.manager, w.perimeter, "fr", False, text, date(2026, 1, 5), organisation="")),
        "allowed operations": (V.MAX_JUSTIFICATION, "allowed_operations", lambda s, w, text: sovereignty.add_operation(
            s, w.manager, w.perimeter, "support_l1", "FR", text, notify=False)),
    }


@pytest.mark.parametrize("case", sorted(_service_calls()))
def test_every_free_text_a_service_stores_has_one_limit_refused_by_name(app, users, case):
    """Over its limit, refused naming the field and the limit (whatever the door: these are the services the web,
    the importer and the command line call); at its limit, stored whole, which the column (PostgreSQL) holds."""
    from types import SimpleNamespace

    from sqlmodel import select

    from evidence.data.models import Requirement

    from .conftest import seed_tiny_perimeter

    limit, field, call = _service_calls()[case]
    with app.app_context(), db_session(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        item, saas_item = (session.exec(select(Requirement).where(Requirement.ref == ref)).one()
                           for ref in ("12.4.a", "12.4.b"))
        world = SimpleNamespace(manager=tiny.manager, perimeter=tiny.perimeter, control=tiny.control, item=item,
                                saas_item=saas_item)
        with pytest.raises(EvidenceError) as refused:
            call(session, world, "x" * (limit + 1))
        session.rollback()
        assert refused.value.field == field and str(limit) in str(refused.value)
        call(session, world, "  " + "x" * limit + "  ")  # the spaces around are not counted


def db_session(app):
    from evidence.data import database as db

    return db.session_scope(app)


@pytest.mark.parametrize("given", ["99999999999999999999999", "²", "1" * 5000])
def test_a_perimeter_named_by_a_huge_or_odd_number_is_not_found_rather_than_a_crash(app, given):
    from evidence.services.perimeters import get_perimeter

    with app.app_context(), db_session(app) as session:
        with pytest.raises(EvidenceError):
            get_perimeter(session, given)


def test_a_plain_id_is_ascii_digits_that_fit_a_row():
    from evidence.core.text import MAX_ID, plain_id

    assert [plain_id(v) for v in ("12", " 7 ", 3, str(MAX_ID))] == [12, 7, 3, MAX_ID]
    assert [plain_id(v) for v in ("²", "٣", "1e3", "-1", "", None, str(MAX_ID + 1), "1" * 5000)] == [None] * 8


@pytest.mark.sqlite_only
@pytest.mark.parametrize("path", ["/evidence/new?control=²", "/evidence/new?control=٣"])
def test_an_odd_digit_in_an_address_is_ignored_not_a_crash(catalogue_loaded, client, login_as, path):
    login_as("manager")
    assert client.get(path).status_code == 200


@pytest.mark.sqlite_only
def test_the_item_page_s_way_back_refuses_a_control_character(catalogue_loaded, client, login_as):
    from .conftest import csrf_token

    login_as("manager")
    token = csrf_token(client, "/controls/new")
    response = client.post("/controls/map", data={"csrf_token": token, "next": "/requirements/x\r\nSet-Cookie: x=1",
                                                  "control": ""})
    assert response.status_code == 302 and response.headers["Location"] == "/requirements/#control-picker"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("capital", ["inf", "1e308", "nan", "-1e999"])
def test_an_infinite_capital_typed_in_the_register_is_a_form_error(catalogue_loaded, users, client, login_as, capital):
    from sqlmodel import select

    from evidence.data import database as db
    from evidence.data.models import Shareholder, User
    from evidence.services import perimeters

    from .conftest import csrf_token

    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        perimeters.create_perimeter(session, session.get(User, users["manager"].id), perimeters.PerimeterData(
            code="iaas-s", name="IaaS", service_types=("IaaS",)))
    login_as("manager")
    token = csrf_token(client, "/perimeters/iaas-s/sovereignty/")
    page = client.post("/perimeters/iaas-s/sovereignty/holders", follow_redirects=True, data={
        "csrf_token": token, "name": "Fonds", "country": "US", "kind": "direct", "capital": capital, "voting": "10"})
    text = page.get_data(as_text=True)
    assert page.status_code < 500 and ("n’est pas un pourcentage" in text or "n’est pas compris entre 0 et 100" in text)
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        assert session.exec(select(Shareholder)).all() == []  # refused whole
