"""Chapter 19: the sovereignty checks at their bounds (tables of cases), then in the product: the registers in the UI,
gaps, the 19.6.f action, the CLI. The registers of 19.6.c-f (validation, forms, migration) are in
test_sovereignty_registers.py."""
import re
from datetime import date

import pytest
from flask import Flask
from flask_babel import Babel, force_locale
from sqlmodel import select

from evidence.core import rules
from evidence.data import database as db
from evidence.data.models import Action, AuditEvent, SovereigntyChange, User
from evidence.presentation import sovereignty_words as words
from evidence.services import gaps, perimeters, sovereignty

from .conftest import csrf_token

EU = {"FR", "DE", "IT", "ES", "NL", "BE", "LU", "IE"}
DAY = date(2026, 6, 15)


@pytest.fixture
def words_app():
    """Flask-Babel alone: the sentences need a locale, not a database."""
    app = Flask(__name__)
    Babel(app, locale_selector=lambda: "fr")
    with app.app_context():
        yield app


def plain(text: str) -> str:
    """Fixed spaces as plain ones, to compare sentences with readable literals."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def said(problems, locale="fr") -> tuple[str, ...]:
    with force_locale(locale):
        return tuple(plain(words.problem(p)) for p in problems)


def codes(check) -> list[str]:
    return [p.code for p in check.problems]


def holder(name="H", country="US", capital=0, voting=0, veto=False, board=False, kind="direct"):
    return rules.Holder(name, country, capital, voting, veto, board, kind)


@pytest.mark.parametrize("capital, voting, passed", [
    (2399, 0, True), (2400, 0, True), (2401, 0, False),  # one non-EU holder: at most 24 %
    (0, 2400, True), (0, 2401, False),  # voting rights count as much as capital
    (1000, 2500, False),  # whichever is higher
])
def test_individual_threshold(capital, voting, passed):
    assert rules.check_shareholding([holder(capital=capital, voting=voting)], EU).passed is passed


@pytest.mark.parametrize("shares, passed", [
    ((2000, 1899), True), ((2000, 1900), True), ((2000, 1901), False),  # all non-EU together: at most 39 %
    ((1300, 1300, 1300), True), ((1300, 1300, 1301), False),
])
def test_combined_threshold(shares, passed):
    holders = [holder(f"H{i}", "US" if i % 2 else "CN", capital=s) for i, s in enumerate(shares)]
    result = rules.check_shareholding(holders + [holder("Fondateurs", "FR", capital=5000)], EU)
    assert result.passed is passed
    if not passed:
        combined = next(p for p in result.problems if p.code == "non_eu_combined_above_limit")
        assert combined.params["limit"] == 39 and combined.params["share"] > 39


def test_combined_uses_capital_or_votes_whichever_is_higher(words_app):
    holders = [holder("A", capital=2000, voting=1000), holder("B", capital=1000, voting=2000)]
    assert rules.check_shareholding(holders, EU).passed  # 30 % of capital, 30 % of votes
    holders = [holder("A", capital=2000, voting=2000), holder("B", capital=1000, voting=2000)]
    result = rules.check_shareholding(holders, EU)
    assert not result.passed
    assert "détentions hors UE cumulées : 40 % des droits de vote, au-delà du plafond de 39 %" in said(result.problems)


def test_shareholding_figures_are_the_table_sums(words_app):
    """The figures under 19.6.b are what the shareholding table's non-EU total row prints (direct holdings), and
    the largest holding is one row's capital or voting share."""
    holders = [holder("US LP", capital=1100, voting=900), holder("CN", "CN", capital=250, voting=1250),
               holder("US Inc", capital=1100, voting=900, kind="ultimate"), holder("FR", "FR", capital=7650)]
    result = rules.check_shareholding(holders, EU)
    assert dict(result.figures) == {"non_eu_capital": 13.5, "non_eu_voting": 21.5, "largest_non_eu": 12.5}
    with force_locale("fr"):
        assert [plain(words.figure(k, v)) for k, v in result.figures] == [
            "capital détenu hors UE (détentions directes) : 13,5 %",
            "droits de vote détenus hors UE (détentions directes) : 21,5 %",
            "plus forte détention hors UE : 12,5 %"]
    assert rules.check_shareholding([holder(capital=2401)], EU).problems[0].as_dict() == {
        "code": "holder_above_limit",
        "params": {"holder": "H", "country": "US", "basis": "capital", "share": 24.01, "limit": 24}}
    assert said(rules.check_shareholding([holder(capital=2401)], EU).problems) == (
        "H (États-Unis) détient 24,01 % du capital, au-delà du plafond de 24 %",)


def test_eu_holders_and_the_ultimate_entity():
    assert rules.check_shareholding([holder("Big EU", "DE", capital=9000)], EU).passed
    # The ultimate controlling entity is checked on its own, not added to the combined share a second time.
    holders = [holder("US LP", capital=2000), holder("US Inc", capital=2000, kind="ultimate"), holder("CN", "CN", capital=1800)]
    assert rules.check_shareholding(holders, EU).passed
    holders[1] = holder("US Inc", capital=3000, kind="ultimate")
    assert not rules.check_shareholding(holders, EU).passed


@pytest.mark.parametrize("veto, board, country, passed", [
    (True, False, "US", False), (False, True, "US", False), (True, True, "FR", True), (False, False, "US", True),
])
def test_veto_and_board_rights(veto, board, country, passed):
    result = rules.check_shareholding([holder(country=country, capital=100, veto=veto, board=board)], EU)
    assert result.passed is passed


@pytest.mark.parametrize("seats, passed", [
    ({"registered_office": "FR", "central_administration": "FR", "principal_establishment": "DE"}, True),
    ({"registered_office": "FR", "central_administration": "US", "principal_establishment": "FR"}, False),
    ({"registered_office": "GB", "central_administration": "FR", "principal_establishment": "FR"}, False),
    ({"registered_office": "FR", "central_administration": "FR"}, False),
])
def test_seats(seats, passed):
    assert rules.check_seats(seats, EU).passed is passed


def test_seat_problems_name_the_seat(words_app):
    result = rules.check_seats({"registered_office": "GB", "central_administration": "FR"}, EU)
    assert codes(result) == ["seat_missing", "seat_outside_eu"]
    assert said(result.problems) == ("Principal établissement : non enregistré",
                                     "Siège statutaire : pays hors Union européenne (Royaume-Uni)")
    with force_locale("fr"):  # the figures name the seat and the country, never a key or a code
        assert [plain(words.figure(k, v)) for k, v in result.figures] == [
            "Siège statutaire : Royaume-Uni", "Administration centrale : France", "Principal établissement : non enregistré"]
    with force_locale("en"):
        assert "United Kingdom" in words.figure(*result.figures[0])


# --- 19.6.c: control in the sense of article L233-3 of the code de commerce ------------------------------------


@pytest.mark.parametrize("voting, largest_other, presumed", [
    (4000, 0, False),  # 40 % exactly is not more than 40 %
    (4001, 0, True),
    (4001, 4001, True),  # an equal share is not a larger one
    (4001, 4002, False),  # another partner holds more
    (5000, 5000, True),
    (0, 0, False),
])
def test_control_presumption(voting, largest_other, presumed):
    assert rules.presumed_control(voting, largest_other) is presumed


def parent(country="US", capital=0, voting=0, other=0, agreement=False, de_facto=False, board=False):
    return rules.ParentCompany("Parent Corp", country, capital, voting, other, agreement, de_facto, board)


@pytest.mark.parametrize("facts, ground", [
    (parent(voting=5001, other=4999), "majorité des droits de vote, 50,01 % (L233-3 I 1°)"),
    (parent(voting=5000, other=5000), "50 % des droits de vote, aucun autre associé n'en détenant davantage (présomption, L233-3 II)"),
    (parent(voting=4001), "40,01 % des droits de vote, aucun autre associé n'en détenant davantage (présomption, L233-3 II)"),
    (parent(voting=4001, other=4002), None),
    (parent(voting=4000), None),
    (parent(capital=5001), "détient 50,01 % du capital"),  # owned: it belongs to the parent
    (parent(capital=5000), None),
    (parent(voting=1000, other=6000, agreement=True), "majorité des droits de vote en vertu d'un accord avec d'autres associés (L233-3 I 2°)"),
    (parent(voting=3000, other=3500, de_facto=True), "détermine en fait les décisions des assemblées générales (L233-3 I 3°)"),
    (parent(board=True), "nomme ou révoque la majorité des organes d'administration, de direction ou de surveillance (L233-3 I 4°)"),
    (parent(), None),
])
def test_control_grounds(words_app, facts, ground):
    grounds = rules.control_grounds(facts)
    with force_locale("fr"):
        assert (plain(words._ground(grounds[0])) if grounds else None) == ground


def party(name="S", country="US", data=False, technical=False, qualified=False, owner=None, **kw):
    return rules.SubcontractorFacts(name, country, data, qualified, technical, owner, **kw)


@pytest.mark.parametrize("facts, passed", [
    (party(country="DE", data=True, technical=True), True),  # in the Union, not controlled from outside: out of scope
    (party(), True),  # outside the Union, no technical possibility of reaching the data
    (party(data=True), False),
    (party(technical=True), False),  # technical data count as much as the customers'
    (party(data=True, qualified=True), False),  # SecNumCloud qualification exempts nobody here
    (party(technical=None), False),  # not assessed
    (party(country="DE", technical=None), True),
    (party(country="DE", data=True, owner=parent(voting=4001)), False),  # controlled (presumption) from the US
    (party(country="DE", data=True, owner=parent(voting=4000)), True),
    (party(country="DE", data=True, owner=parent(voting=4001, other=4002)), True),
    (party(country="DE", technical=True, owner=parent(board=True)), False),
    (party(country="DE", data=True, owner=parent(country="FR", voting=10000)), True),  # a European parent
    (party(country="DE", data=False, technical=False, owner=parent(voting=10000)), True),  # controlled, no access
])
def test_third_party_access(facts, passed):
    assert rules.check_subcontractors([facts], EU).passed is passed


def test_third_party_access_problem_names_the_control_and_the_data(words_app):
    controlled = party("Atlantic Cloud Inc.", "US", data=True, qualified=True,
                       owner=rules.ParentCompany("Atlantic Cloud Holdings", "US", 0, 6000, 4000))
    result = rules.check_subcontractors([controlled, party("Rhône Ops", "FR", data=True)], EU)
    assert said(result.problems) == (
        "Atlantic Cloud Inc. (États-Unis, contrôlée par Atlantic Cloud Holdings (États-Unis) : majorité des droits de "
        "vote, 60 % (L233-3 I 1°)) : accès technique possible aux données des commanditaires ; la qualification "
        "SecNumCloud n'en dispense pas",)
    assert result.problems[0].as_dict()["params"]["tie"] == {
        "code": "controlled", "params": {"country": "US", "parent": "Atlantic Cloud Holdings", "parent_country": "US",
                                         "ground": {"code": "voting_majority", "params": {"share": 60}}}}
    assert dict(result.figures) == {"third_parties": 2, "non_eu_or_controlled": 1}
    result = rules.check_subcontractors([party("Trace Co", technical=True, data=True)], EU)
    assert said(result.problems) == ("Trace Co (États-Unis) : accès technique possible aux données des commanditaires "
                                     "et aux données techniques",)
    assert said(rules.check_subcontractors([party("Blind", technical=None)], EU).problems) == (
        "Blind (États-Unis) : accès aux données techniques non évalué",)


# --- 19.6.d: SecNumCloud qualification or operating autonomy ------------------------------------------------------


@pytest.mark.parametrize("facts, passed", [
    (party(qualified=True, qualification_decision="D-2024-17", qualification_date=date(2024, 3, 12)), True),
    (party(qualified=True, qualification_date=date(2024, 3, 12)), False),  # qualified, but which decision?
    (party(qualified=True, qualification_decision="D-2024-17"), False),
    (party(own_skills=True), True),
    (party(alternatives=("Alpha",)), False),  # one alternative is not two
    (party(alternatives=("Alpha", "Beta")), True),
    (party(alternatives=("Alpha", " alpha ")), False),  # the same one twice
    (party("S", alternatives=("S", "Alpha")), False),  # not its own alternative
    (party(qualified=True, alternatives=("Alpha", "Beta")), True),  # autonomy is enough
    (party(country="FR"), False),  # every third party, wherever it is
    (party(), False),
])
def test_operating_autonomy(facts, passed):
    assert rules.check_autonomy([facts]).passed is passed


def test_operating_autonomy_problems(words_app):
    result = rules.check_autonomy([party("Solo", alternatives=("Alpha",)), party("Q", qualified=True),
                                   party("None named")])
    assert said(result.problems) == (
        "Solo : ni qualifiée SecNumCloud ni autonomie d'exploitation garantie (compétences propres non déclarées ; "
        "1 société tierce alternative nommée sur 2 requises)",
        "Q : qualifiée SecNumCloud sans référence de qualification (numéro et date de la décision), et sans autonomie "
        "d'exploitation garantie",
        "None named : ni qualifiée SecNumCloud ni autonomie d'exploitation garantie (compétences propres non déclarées ; "
        "0 société tierce alternative nommée sur 2 requises)")
    assert dict(result.figures) == {"third_parties": 3, "qualified": 0, "autonomous": 0}


# --- 19.6.e: links with foreign governments and public bodies ---------------------------------------------------

DECLARED = rules.NoLinkDeclaration("Claire Fontaine <claire@example.org>", date(2026, 6, 1))


@pytest.mark.parametrize("links, declaration, passed", [
    ([], None, False),  # nothing recorded, nothing declared
    ([], DECLARED, True),  # an empty register, declared
    ([rules.ForeignLink("Ministry", "US", "Contrat de 2019 clos ; aucune obligation résiduelle.")], None, True),
    ([rules.ForeignLink("Ministry", "US", "")], None, False),  # not assessed
    ([rules.ForeignLink("Ministry", "US", "   ")], DECLARED, False),
])
def test_foreign_public_links(links, declaration, passed):
    assert rules.check_foreign_links(links, declaration).passed is passed


def test_foreign_public_links_figures(words_app):
    figures = rules.check_foreign_links([], DECLARED).figures
    assert figures[-2:] == (("declared_none_on", "2026-06-01"),
                            ("declared_none_by", "Claire Fontaine <claire@example.org>"))
    with force_locale("fr"):
        assert plain(words.figure(*figures[-2])) == "absence de lien déclarée : 1er juin 2026"
    assert said(rules.check_foreign_links([rules.ForeignLink("Agency", "CN")], None).problems) == (
        "Agency (Chine) : lien non évalué",)
    assert "ni déclaration" in said(rules.check_foreign_links([], None).problems)[0]


# --- 19.6.f: customers told of a change within one month ----------------------------------------------------------


@pytest.mark.parametrize("day, month_later", [
    (date(2026, 6, 15), date(2026, 7, 15)), (date(2026, 1, 31), date(2026, 2, 28)), (date(2028, 1, 31), date(2028, 2, 29)),
    (date(2026, 12, 15), date(2027, 1, 15)), (date(2026, 3, 31), date(2026, 4, 30)),
])
def test_one_month_after(day, month_later):
    assert rules.one_month_after(day) == month_later == sovereignty.one_month_after(day)


@pytest.mark.parametrize("changed_on, notified_on, today, passed", [
    (date(2026, 1, 31), date(2026, 2, 28), date(2026, 6, 1), True),  # on the deadline: in time
    (date(2026, 1, 31), date(2026, 3, 1), date(2026, 6, 1), False),  # a day late
    (date(2026, 1, 31), date(2026, 1, 20), date(2026, 6, 1), True),  # told before it happened
    (date(2026, 1, 31), None, date(2026, 2, 28), True),  # not yet told, still in time
    (date(2026, 1, 31), None, date(2026, 3, 1), False),  # not told, a day past the deadline
    (date(2026, 6, 15), date(2026, 7, 15), date(2026, 8, 1), True),
    (date(2026, 6, 15), date(2026, 7, 16), date(2026, 8, 1), False),
])
def test_customer_notices(changed_on, notified_on, today, passed):
    changes = [rules.ChangeFacts("legal", "Entrée d'un actionnaire", changed_on, notified_on)]
    assert rules.check_notices(changes, today).passed is passed


def test_customer_notices_carry_their_dates_and_days(words_app):
    changes = [rules.ChangeFacts("technical", "Support N2 depuis Montréal", date(2026, 3, 17), date(2026, 5, 1)),
               rules.ChangeFacts("legal", "Nouvel actionnaire", date(2026, 4, 1), None),
               rules.ChangeFacts("organisational", "Nouveau sous-traitant", date(2026, 6, 1), None)]
    result = rules.check_notices(changes, date(2026, 6, 15))
    assert said(result.problems) == (
        "changement technique du 17 mars 2026 « Support N2 depuis Montréal » : commanditaires informés le 1er mai 2026, "
        "14 jours après l'échéance du 17 avril 2026",
        "changement juridique du 1er avril 2026 « Nouvel actionnaire » : commanditaires non informés, échéance du "
        "1er mai 2026 dépassée de 45 jours")
    assert result.problems[0].as_dict()["params"] == {
        "kind": "technical", "changed_on": "2026-03-17", "description": "Support N2 depuis Montréal",
        "deadline": "2026-04-17", "notified_on": "2026-05-01", "days": 14}
    assert dict(result.figures) == {"changes": 3, "late": 2, "pending": 1}
    assert rules.check_notices([], DAY).passed


# --- 19.2: localisation -------------------------------------------------------------------------------------------


def all_data(country="FR", **overrides):
    places = []
    for category in rules.DATA_CATEGORIES:
        for activity in ("stored", "processed"):
            places.append(rules.DataPlace(category, activity, overrides.get(f"{category}.{activity}", country)))
    return places


OPS = [rules.OperationPlace("administration", "FR"), rules.OperationPlace("supervision", "DE")]


def by_ref(checks):
    return {c.requirement: c for c in checks}


def test_localisation_all_in_the_eu_passes():
    assert all(c.passed for c in rules.check_localisation(all_data(), OPS, EU))


@pytest.mark.parametrize("override, failing", [
    ({"customer_data.stored": "US"}, "19.2.b"), ({"customer_data.processed": "IN"}, "19.2.b"),
    ({"logs.stored": "US"}, "19.2.d"), ({"backups.processed": "CH"}, "19.2.d"), ({"certificates.stored": "GB"}, "19.2.d"),
])
def test_data_outside_the_eu(override, failing):
    checks = by_ref(rules.check_localisation(all_data(**override), OPS, EU))
    assert [ref for ref, c in checks.items() if not c.passed] == [failing]


def test_missing_locations_and_operations(words_app):
    checks = by_ref(rules.check_localisation([], [], EU))
    assert not checks["19.2.b"].passed and not checks["19.2.d"].passed and not checks["19.2.c"].passed
    assert checks["19.2.e"].passed  # no support outside the EU: nothing to document
    assert "Données des commanditaires : lieu de stockage non enregistré" in said(checks["19.2.b"].problems)
    assert said(checks["19.2.c"].problems) == ("Administration : lieu non enregistré", "Supervision : lieu non enregistré")


def test_localisation_problems_in_words(words_app):
    checks = by_ref(rules.check_localisation(all_data(**{"logs.stored": "US"}),
                                             OPS + [rules.OperationPlace("administration", "MA"),
                                                    rules.OperationPlace("support_l2", "CA")], EU))
    assert said(checks["19.2.d"].problems) == ("Journaux (stockage) : pays hors Union européenne (États-Unis)",)
    assert said(checks["19.2.c"].problems) == (
        "Administration : réalisée depuis un pays hors Union européenne (Maroc)",)
    assert said(checks["19.2.e"].problems) == (
        "Support N2 : assuré hors Union européenne (Canada) sans la liste des opérations permises",)


def test_every_problem_and_figure_has_words(words_app):
    """No code or internal key reaches a reader: every problem the checks can give has its sentence, every figure
    key its label."""
    cases = [
        rules.check_seats({"registered_office": "US"}, EU),
        rules.check_shareholding([holder(capital=3000, veto=True, board=True), holder("B", capital=2000)], EU),
        rules.check_subcontractors([party(data=True, qualified=True), party("T", technical=None),
                                    party("C", "DE", data=True, owner=parent(board=True))], EU),
        rules.check_autonomy([party(), party(qualified=True)]),
        rules.check_foreign_links([rules.ForeignLink("Agency", "CN")], None),
        rules.check_foreign_links([], None), rules.check_foreign_links([], DECLARED),
        rules.check_notices([rules.ChangeFacts("legal", "x", date(2026, 1, 1), date(2026, 3, 1)),
                             rules.ChangeFacts("technical", "y", date(2026, 1, 1))], DAY),
        *rules.check_localisation([rules.DataPlace("logs", "stored", "US")],
                                  [rules.OperationPlace("supervision", "US"), rules.OperationPlace("support_l1", "US")], EU),
    ]
    seen_codes = set()
    for check in cases:
        for p in check.problems:
            seen_codes.add(p.code)
            for locale in ("fr", "en"):
                sentence = said([p], locale)[0]
                assert sentence and sentence != "contrôle en échec", p
                assert p.code not in sentence and "{" not in sentence and "%(" not in sentence
            assert said([p.as_dict()]) == said([p])  # the snapshot's dicts word the same
        for key, value in check.figures:
            assert key in words.FIGURES, key
            with force_locale("fr"):
                assert key not in words.figure(key, value)
    assert seen_codes >= {
        "seat_missing", "seat_outside_eu", "holder_above_limit", "holder_veto", "holder_board_majority",
        "non_eu_combined_above_limit", "third_party_access", "third_party_access_unassessed",
        "qualified_without_reference", "no_qualification_nor_autonomy", "link_unassessed", "no_link_declaration",
        "notice_late", "notice_missing", "data_outside_eu", "data_place_missing", "operation_outside_eu",
        "operation_place_missing", "support_without_allowed_operations"}
    assert said([{"code": "from_a_future_version", "params": {}}]) == ("contrôle en échec",)


@pytest.mark.parametrize("operations, ref, passed", [
    (OPS + [rules.OperationPlace("administration", "US")], "19.2.c", False),
    (OPS + [rules.OperationPlace("supervision", "MA")], "19.2.c", False),
    (OPS + [rules.OperationPlace("support_l1", "CA")], "19.2.e", False),
    (OPS + [rules.OperationPlace("support_l1", "CA", "Lecture des tickets seulement")], "19.2.e", True),
    (OPS + [rules.OperationPlace("support_l2", "FR")], "19.2.e", True),
])
def test_operations(operations, ref, passed):
    assert by_ref(rules.check_localisation(all_data(), operations, EU))[ref].passed is passed


# --- In the product ------------------------------------------------------------------------------------


@pytest.fixture
def perimeter_app(catalogue_loaded, users):
    app = catalogue_loaded
    app.config["TODAY"] = DAY
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        perimeters.create_perimeter(session, manager, perimeters.PerimeterData(code="iaas-s", name="IaaS", service_types=("IaaS",)))
        for kind in ("registered_office", "central_administration", "principal_establishment"):
            sovereignty.set_seat(session, manager, kind, "FR", "Lyon", today=DAY)
    return app


def post(client, path, **data):
    return client.post(f"/perimeters/iaas-s/sovereignty/{path}", data={"csrf_token": csrf_token(client, "/perimeters/iaas-s/sovereignty/"), **data},
                       follow_redirects=True)


def test_failed_check_is_a_gap_whatever_the_evidence(perimeter_app, client, login_as):
    app = perimeter_app
    login_as("manager")
    page = post(client, "holders", name="Fonds FR", country="FR", kind="direct", capital="60", voting="60").get_data(as_text=True)
    assert "Actionnariat enregistré." in page
    with app.app_context(), db.session_scope(app) as session:
        row = next(r for r in gaps.compute(session, perimeters.get_perimeter(session, "iaas-s"), DAY).rows if r.requirement.ref == "19.6.b")
        assert "sovereignty_check" not in row.status.reasons  # passing: still needs controls and evidence
    post(client, "holders", name="Overseas Capital", country="us", kind="direct", capital="41", voting="20")
    with app.app_context(), db.session_scope(app) as session:
        row = next(r for r in gaps.compute(session, perimeters.get_perimeter(session, "iaas-s"), DAY).rows if r.requirement.ref == "19.6.b")
        notes = [plain(words.problem(note)) for note in row.status.notes]
    assert row.status.is_gap and "sovereignty_check" in row.status.reasons
    assert "détentions hors UE cumulées : 41 % du capital, au-delà du plafond de 39 %" in notes
    listing = plain(client.get("/perimeters/iaas-s/gaps?reason=sovereignty_check").get_data(as_text=True))
    assert "détentions hors UE cumulées : 41 % du capital, au-delà du plafond de 39 %" in listing
    page = plain(client.get("/perimeters/iaas-s/sovereignty/").get_data(as_text=True))
    # The figure under 19.6.b is the table's non-EU total; no internal key on the page.
    assert "capital détenu hors UE (détentions directes) : 41 %" in page
    assert "Total hors UE (détentions directes, comptées par 19.6.b)</th><td>41 %</td><td>20 %</td>" in page
    text = re.sub(r"<[^>]*>", " ", page)  # what a reader sees: attribute values (form options) aside
    assert "non_eu" not in text and "registered_office" not in text and "largest_non_eu" not in text
    # The status the French page computed is kept, and serves an English reader in English words.
    with client.session_transaction() as cookie:  # the language of this browser's session: nothing written
        cookie["locale"] = "en"
    listing = plain(client.get("/perimeters/iaas-s/gaps?reason=sovereignty_check").get_data(as_text=True))
    assert "détentions hors UE" not in listing and "non-EU holdings combined: 41" in listing
    page = plain(client.get("/perimeters/iaas-s/verdict/19.6.b").get_data(as_text=True))
    assert "détentions hors UE" not in page and "non-EU holdings combined: 41" in page


def test_changes_that_matter_plan_an_inform_customers_action(perimeter_app, client, login_as):
    app = perimeter_app
    login_as("manager")
    post(client, "holders", name="Fonds FR", country="FR", kind="direct", capital="60", voting="60")
    post(client, "subcontractors", name="Hébergeur", country="FR", service="Salles", technical_data_access="no",
         access_justification="Aucun accès logique", own_skills="y", autonomy_arrangements="Équipe interne")
    post(client, "holders", name="Overseas Capital", country="US", kind="direct", capital="10", voting="10")
    post(client, "data", category="customer_data", activity="stored", country="FR")
    post(client, "data", category="customer_data", activity="stored", country="DE")  # a second place: a change
    with app.app_context(), db.session_scope(app) as session:
        actions = session.exec(select(Action).order_by(Action.id)).all()
    titles = [a.title for a in actions]
    assert titles == [
        "Informer les commanditaires : nouveau sous-traitant : Hébergeur (France)",
        "Informer les commanditaires : nouvel actionnaire hors UE : Overseas Capital (États-Unis)",
        "Informer les commanditaires : localisation des données : données des commanditaires (stockage), Allemagne",
    ]
    assert all(a.due_date == date(2026, 7, 15) for a in actions)  # one month later
    page = client.get("/perimeters/iaas-s/actions").get_data(as_text=True)
    assert "Overseas Capital" in page
    # Each change is in the register of changes too, with its kind and the perimeters it concerns.
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-s")
        regs = sovereignty.registers(session, perimeter, DAY)
        recorded = sorted((c.kind, c.changed_on, regs.change_scopes.get(c.id, [])) for c in session.exec(select(SovereigntyChange)))
        assert sovereignty.failures(session, perimeter, DAY).get("19.6.f") is None  # told within a month: pending
        late = [words.problem(p) for p in sovereignty.failures(session, perimeter, date(2026, 7, 16))["19.6.f"]]
    assert recorded == [("legal", DAY, []), ("organisational", DAY, []), ("technical", DAY, ["iaas-s"])]
    assert len(late) == 3 and all("commanditaires non informés, échéance du 15 juillet 2026 dépassée de 1 jour" in plain(p)
                                  for p in late)


def test_registers_are_audited_and_validated(perimeter_app, client, login_as):
    app = perimeter_app
    login_as("manager")
    page = post(client, "holders", name="X", country="USA", capital="10", voting="10", kind="direct").get_data(as_text=True)
    assert "Pays du siège (ISO)" in page  # longer than two letters: refused with the field named
    page = post(client, "holders", name="X", country="US", capital="150", voting="10", kind="direct").get_data(as_text=True)
    assert "capital : 150 n’est pas compris entre 0 et 100" in page
    page = post(client, "subcontractors", name="Sans évaluation", country="FR").get_data(as_text=True)
    assert "accès aux données techniques : Sans évaluation — évaluez" in page
    page = post(client, "subcontractors", name="Sans justification", country="FR", technical_data_access="no").get_data(as_text=True)
    assert "justification requise" in page
    page = post(client, "operations", operation="support_l1", country="CA").get_data(as_text=True)
    assert "Opération ajoutée." in page and "en échec" in page
    with app.app_context(), db.session_scope(app) as session:
        actions = {e.action for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("sovereignty.%")))}
    assert {"sovereignty.seat", "sovereignty.operation.create"} <= actions


def test_auditor_reads_but_cannot_write(perimeter_app, client, login_as):
    login_as("auditor")
    page = client.get("/perimeters/iaas-s/sovereignty/").get_data(as_text=True)
    assert "Sièges (19.6.a)" in page and "Ajouter un détenteur" not in page
    token = csrf_token(client, "/perimeters/iaas-s/sovereignty/")
    assert client.post("/perimeters/iaas-s/sovereignty/holders", data={"csrf_token": token, "name": "x", "country": "US"}).status_code == 403


def test_cli_exit_status(perimeter_app):
    app = perimeter_app
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sovereignty", "iaas-s"])
    assert result.exit_code == 1 and "19.2.b" in result.output and "lieu de stockage non enregistré" in result.output
    assert "19.6.e  FAIL" in result.output and "ni déclaration qu'il n'en existe aucun" in result.output
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-s")
        sovereignty.declare_no_foreign_links(session, None, today=DAY)
        for category in rules.DATA_CATEGORIES:
            for activity in ("stored", "processed"):
                sovereignty.add_data_location(session, None, perimeter, category, activity, "FR", today=DAY)
        sovereignty.add_operation(session, None, perimeter, "administration", "FR", today=DAY)
        sovereignty.add_operation(session, None, perimeter, "supervision", "FR", today=DAY)
    result = runner.invoke(args=["sovereignty", "iaas-s", "--format", "json"])
    assert result.exit_code == 0, result.output
    import json

    assert all(check["passed"] for check in json.loads(result.output))


def test_the_page_in_english_names_countries_in_english(perimeter_app, client, login_as):
    login_as("manager")
    post(client, "holders", name="Overseas Capital", country="US", kind="direct", capital="41", voting="20")
    client.post("/locale/en", data={"csrf_token": csrf_token(client, "/perimeters/iaas-s/sovereignty/")})
    page = client.get("/perimeters/iaas-s/sovereignty/").get_data(as_text=True)
    assert 'lang="en"' in page
    # The registers' words follow the reader (the stored change descriptions stay as recorded, in French).
    assert "United States <span" in page and "Overseas Capital (United States)" in page and "41%" in page
