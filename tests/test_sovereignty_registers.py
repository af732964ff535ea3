"""Chapter 19's registers of 19.6.c-f in the product: the one validation (errors naming the field), what a change
records, the web forms (CSRF, roles, audit), the demo, and the migration that brings the registers to a database."""
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import inspect, text
from sqlmodel import select

from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data.models import (
    Action,
    AuditEvent,
    ChangeNotice,
    ForeignLinkDeclaration,
    ForeignPublicLink,
    SovereigntyChange,
    Subcontractor,
    User,
)
from evidence.presentation import sovereignty_words as words
from evidence.services import gaps, perimeters, sovereignty

from .conftest import DEMO_DAY, csrf_token, login

DAY = date(2026, 6, 15)
PAGE = "/perimeters/iaas-s/sovereignty/"


def plain(text):
    """Fixed spaces (French typography) as plain ones, to compare with readable literals."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@pytest.fixture
def perimeter_app(catalogue_loaded, users):
    app = catalogue_loaded
    app.config["TODAY"] = DAY
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        for code in ("iaas-s", "saas-s"):
            perimeters.create_perimeter(session, manager, perimeters.PerimeterData(code=code, name=code, service_types=("IaaS",)))
    return app


def post(client, path, **data):
    return client.post(PAGE + path, data={"csrf_token": csrf_token(client, PAGE), **data}, follow_redirects=True)


def session_for(app):
    return db.session_scope(app)


def failures(session, perimeter, day) -> dict:
    """sovereignty.failures, its problems worded as a French reader reads them."""
    return {ref: tuple(words.problem(p) for p in problems)
            for ref, problems in sovereignty.failures(session, perimeter, day).items()}


# --- One validation, the field named ------------------------------------------------------------------------

VALID = sovereignty.SubcontractorData(name="Atlantic Cloud Inc.", country="US", data_access=False,
                                      technical_data_access=False, access_justification="Aucun accès logique.",
                                      own_skills=True, autonomy_arrangements="Équipe interne.")


@pytest.mark.parametrize("change, message", [
    ({"name": " "}, "sous-traitant : un sous-traitant doit être nommé"),
    ({"country": "USA"}, "pays : « USA » n’est pas un code pays ISO 3166"),
    ({"technical_data_access": None}, "accès aux données techniques : Atlantic Cloud Inc. — évaluez"),
    ({"access_justification": ""}, "justification : Atlantic Cloud Inc. — dites pourquoi"),
    ({"parent_voting": "30"}, "société mère : nommez la société"),
    ({"parent_country": "US"}, "société mère : nommez la société"),
    ({"parent_name": "Holding", "parent_country": "Etats-Unis"}, "pays de la société mère : « Etats-Unis » n’est pas"),
    ({"parent_name": "Holding", "parent_country": "US", "parent_voting": "150"},
     "droits de vote de la société mère : 150 n’est pas compris entre 0 et 100"),
    ({"parent_name": "Holding", "parent_country": "US", "parent_capital": "abc"}, "capital de la société mère : « abc » n’est pas un pourcentage"),
    ({"parent_name": "Holding", "parent_country": "US", "parent_voting": "60", "largest_other_voting": "41"},
     "plus forte part d’un autre associé : ajoutée aux droits de vote de la société mère, elle dépasse la totalité"),
    ({"qualified": True, "qualification_date": date(2024, 1, 1)}, "référence de qualification : Atlantic Cloud Inc. est déclaré"),
    ({"qualified": True, "qualification_decision": "D-1"}, "date de qualification : Atlantic Cloud Inc. est déclaré"),
    ({"qualified": True, "qualification_decision": "D-1", "qualification_date": date(2026, 6, 16)},
     "date de qualification : la date donnée est dans le futur"),
    ({"autonomy_arrangements": ""}, "dispositions d’autonomie : décrivez les compétences propres"),
    ({"alternatives": "Beta\natlantic cloud inc."}, "sociétés tierces alternatives : Atlantic Cloud Inc. ne peut être sa propre alternative"),
])
def test_subcontractor_validation_names_the_field(change, message):
    with pytest.raises(EvidenceError) as refused:
        sovereignty.subcontractor_values(replace(VALID, **change), DAY)
    assert plain(str(refused.value)).startswith(message), str(refused.value)


def test_subcontractor_values_are_normalised():
    values = sovereignty.subcontractor_values(replace(
        VALID, parent_name=" Holding ", parent_country="us", parent_voting="40,5", alternatives="Alpha ;Beta\n\n",
        qualification_decision="ignored", qualification_date=date(2020, 1, 1)), DAY)
    assert (values["parent_name"], values["parent_country"], values["parent_voting_bp"]) == ("Holding", "US", 4050)
    assert values["alternatives"] == ["Alpha", "Beta"]
    assert values["qualification_decision"] == "" and values["qualification_date"] is None  # not qualified: no reference


def test_link_change_and_notice_validation(perimeter_app):
    app = perimeter_app
    with app.app_context(), session_for(app) as session:
        iaas, saas = perimeters.get_perimeter(session, "iaas-s"), perimeters.get_perimeter(session, "saas-s")
        for data, message in [
            (sovereignty.ForeignLinkData(body="", country="US"), "organisme : nommez"),
            (sovereignty.ForeignLinkData(body="Bundesamt", country="de"), "pays : DE est un État membre de l’Union"),
            (sovereignty.ForeignLinkData(body="Agency", country="US", assessed_on=date(2026, 6, 1)), "évaluation : une date"),
            (sovereignty.ForeignLinkData(body="Agency", country="US", assessment="ok", assessed_on=date(2026, 7, 1)),
             "date d’évaluation : la date donnée est dans le futur"),
        ]:
            with pytest.raises(EvidenceError, match=f"^{message}"):
                sovereignty.save_foreign_link(session, None, data, today=DAY)
        for data, message in [
            (sovereignty.ChangeData("financial", DAY, "x"), "nature du changement : « financial » inconnue"),
            (sovereignty.ChangeData("legal", None, "x"), "date du changement : obligatoire"),
            (sovereignty.ChangeData("legal", DAY, "  "), "description : décrivez le changement"),
            (sovereignty.ChangeData("legal", DAY, "x" * 2001), "description : 2001 caractères, 2000 au plus"),
            (sovereignty.ChangeData("legal", DAY, "x", (9999,)), "périmètres concernés : 9999 inconnu"),
        ]:
            with pytest.raises(EvidenceError, match=f"^{message}"):
                sovereignty.save_change(session, None, data)
        change = sovereignty.save_change(session, None, sovereignty.ChangeData("technical", DAY, "Support N2", (saas.id,)))
        with pytest.raises(EvidenceError, match="^date d’envoi : obligatoire"):
            sovereignty.add_notice(session, None, change, saas, None, today=DAY)
        with pytest.raises(EvidenceError, match="^date d’envoi : la date donnée est dans le futur"):
            sovereignty.add_notice(session, None, change, saas, date(2026, 6, 16), today=DAY)
        with pytest.raises(EvidenceError, match="^périmètre : le changement n° .* ne concerne pas iaas-s"):
            sovereignty.add_notice(session, None, change, iaas, DAY, today=DAY)


# --- What the services record --------------------------------------------------------------------------------


def test_declaration_of_no_link_and_its_withdrawal(perimeter_app):
    app = perimeter_app
    with app.app_context(), session_for(app) as session:
        manager = session.exec(select(User).where(User.role == "manager")).first()
        iaas = perimeters.get_perimeter(session, "iaas-s")
        assert "19.6.e" in failures(session, iaas, DAY)  # no link recorded, nothing declared
        declaration = sovereignty.declare_no_foreign_links(session, manager, "Aucun lien.", today=DAY)
        assert (declaration.declared_by, declaration.declared_on) == (f"{manager.name} <{manager.email}>", DAY)
        assert "19.6.e" not in failures(session, iaas, DAY)
        sovereignty.save_foreign_link(session, manager, sovereignty.ForeignLinkData(
            body="Department of Energy", country="US", nature="Contrat de calcul (2025)"), today=DAY)
        assert session.exec(select(ForeignLinkDeclaration)).all() == []  # "none" no longer holds
        assert failures(session, iaas, DAY)["19.6.e"] == ("Department of Energy (États-Unis) : lien non évalué",)
        with pytest.raises(EvidenceError, match="^déclaration : le registre recense des liens"):
            sovereignty.declare_no_foreign_links(session, manager, today=DAY)
        link = session.exec(select(ForeignPublicLink)).one()
        sovereignty.save_foreign_link(session, manager, sovereignty.ForeignLinkData(
            body=link.body, country="US", nature=link.nature, assessment="Contrat clos, aucune donnée partagée."), link, today=DAY)
        assert "19.6.e" not in failures(session, iaas, DAY)
        assert link.assessed_on == DAY  # assessed today unless said otherwise
        events = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("sovereignty.foreign%"))
                                                  .order_by(AuditEvent.seq))]
        titles = [a.title for a in session.exec(select(Action).order_by(Action.id))]
    assert events == ["sovereignty.foreign_link_declaration.create", "sovereignty.foreign_link_declaration.withdraw",
                      "sovereignty.foreign_link.create", "sovereignty.foreign_link.update"]
    # A new link is itself a change the customers of every perimeter must hear of.
    assert titles == ["Informer les commanditaires : lien avec un organisme public étranger : Department of Energy "
                      "(États-Unis)"] * 2


def test_a_third_party_coming_under_foreign_control_is_a_legal_change(perimeter_app):
    app = perimeter_app
    with app.app_context(), session_for(app) as session:
        iaas = perimeters.get_perimeter(session, "iaas-s")
        eu_party = replace(VALID, name="Ops Europe", country="DE", data_access=True, technical_data_access=True,
                           perimeter_ids=(iaas.id,))
        row = sovereignty.save_subcontractor(session, None, eu_party, today=DAY, notify=False)
        assert "19.6.c" not in failures(session, iaas, DAY)
        sovereignty.save_subcontractor(session, None, replace(eu_party, parent_name="Atlantic Ops Corp.", parent_country="US",
                                                              parent_voting="40.01", largest_other_voting="40"), row, today=DAY)
        problems = failures(session, iaas, DAY)["19.6.c"]
        change = session.exec(select(SovereigntyChange)).one()
        regs = sovereignty.registers(session, iaas, DAY)
    assert tuple(map(plain, problems)) == (
        "Ops Europe (Allemagne, contrôlée par Atlantic Ops Corp. (États-Unis) : 40,01 % des droits de vote, aucun autre "
        "associé n'en détenant davantage (présomption, L233-3 II)) : accès technique possible aux données des "
        "commanditaires et aux données techniques",)
    assert change.kind == "legal" and change.description.startswith(
        "contrôle du sous-traitant modifié : Ops Europe (Allemagne, contrôlée")
    assert regs.change_scopes[change.id] == ["iaas-s"]


def test_notices_per_perimeter_or_for_all(perimeter_app):
    app = perimeter_app
    with app.app_context(), session_for(app) as session:
        iaas, saas = perimeters.get_perimeter(session, "iaas-s"), perimeters.get_perimeter(session, "saas-s")
        everyone = sovereignty.save_change(session, None, sovereignty.ChangeData("legal", date(2026, 4, 1), "Nouvel actionnaire"))
        saas_only = sovereignty.save_change(session, None, sovereignty.ChangeData("technical", date(2026, 4, 10), "Support N2",
                                                                                  (saas.id,)))
        sovereignty.add_notice(session, None, everyone, iaas, date(2026, 4, 20), "Lettre", today=DAY)  # iaas-s's only
        sovereignty.add_notice(session, None, saas_only, None, date(2026, 5, 20), today=DAY)  # all it concerns: saas-s, late
        iaas_failures = failures(session, iaas, DAY)
        saas_failures = failures(session, saas, DAY)
        assert [c.id for c in sovereignty.registers(session, iaas, DAY).changes] == [everyone.id]
        sovereignty.add_notice(session, None, everyone, None, date(2026, 5, 1), today=DAY)  # on the deadline, for all
        assert "19.6.f" not in failures(session, iaas, DAY)
        saas_after = failures(session, saas, DAY)["19.6.f"]
        notice_events = session.exec(select(AuditEvent).where(AuditEvent.action == "sovereignty.change_notice.create")
                                     .order_by(AuditEvent.seq)).all()
    assert "19.6.f" not in iaas_failures
    assert saas_failures["19.6.f"] == (
        "changement technique du 10 avril 2026 « Support N2 » : commanditaires informés le 20 mai 2026, 10 jours après "
        "l'échéance du 10 mai 2026",
        "changement juridique du 1er avril 2026 « Nouvel actionnaire » : commanditaires non informés, échéance du "
        "1er mai 2026 dépassée de 45 jours")
    assert saas_after == saas_failures["19.6.f"][:1]
    assert [e.details["days_late"] for e in notice_events] == [0, 10, 0]


def test_failed_third_party_checks_are_gaps(perimeter_app):
    app = perimeter_app
    with app.app_context(), session_for(app) as session:
        iaas = perimeters.get_perimeter(session, "iaas-s")
        sovereignty.save_subcontractor(session, None, replace(
            VALID, data_access=True, own_skills=False, autonomy_arrangements="", qualified=True,
            qualification_decision="D-1", qualification_date=date(2024, 1, 1)), today=DAY)
        rows = {r.requirement.ref: r for r in gaps.compute(session, iaas, DAY).rows}
        notes = [words.problem(note) for note in rows["19.6.c"].status.notes]
    assert "sovereignty_check" in rows["19.6.c"].status.reasons  # qualified, and yet a gap
    assert notes == ["Atlantic Cloud Inc. (États-Unis) : accès technique possible aux données des "
                     "commanditaires ; la qualification SecNumCloud n'en dispense pas"]
    assert "sovereignty_check" not in rows["19.6.d"].status.reasons  # qualified, with its decision
    assert "sovereignty_check" in rows["19.6.e"].status.reasons


# --- The web forms --------------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # the register pages and forms; the registers' services run on PostgreSQL in this file's other tests
def test_manager_records_a_controlled_third_party(perimeter_app, client, login_as):
    app = perimeter_app
    login_as("manager")
    page = post(client, "subcontractors", name="Ops Europe", country="DE", service="Infogérance", data_access="y",
                technical_data_access="yes", parent_name="Atlantic Ops Corp.", parent_country="US", parent_capital="20",
                parent_voting="45", largest_other_voting="30", qualified="y", qualification_decision="D-2024-1",
                qualification_date="2024-03-12").get_data(as_text=True)
    assert "Sous-traitant enregistré." in page
    assert "Ops Europe (Allemagne, contrôlée par Atlantic Ops Corp. (États-Unis) : 45 % des droits de vote" in plain(page)
    assert "hors UE ou contrôlé hors UE" in page
    with app.app_context(), session_for(app) as session:
        row = session.exec(select(Subcontractor)).one()
        assert (row.parent_voting_bp, row.largest_other_voting_bp, row.technical_data_access) == (4500, 3000, True)
        assert row.qualification_date == date(2024, 3, 12)
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "sovereignty.subcontractor.create")).one()
        assert event.details["changes"]["qualification_date"] == "2024-03-12"
    edit = client.get(PAGE + f"subcontractors/{row.id}").get_data(as_text=True)
    assert 'value="45"' in edit and "Atlantic Ops Corp." in edit and 'selected value="yes"' in edit
    page = post(client, f"subcontractors/{row.id}", name="Ops Europe", country="DE", technical_data_access="no",
                access_justification="Aucun accès", alternatives="Alpha\nBeta", parent_name="Atlantic Ops Corp.",
                parent_country="US", parent_voting="45", largest_other_voting="30").get_data(as_text=True)
    assert "Sous-traitant enregistré." in page
    with app.app_context(), session_for(app) as session:
        row = session.get(Subcontractor, row.id)
        assert (row.data_access, row.qualified, row.alternatives) == (False, False, ["Alpha", "Beta"])
        failed = failures(session, perimeters.get_perimeter(session, "iaas-s"), DAY)
    assert "19.6.c" not in failed and "19.6.d" not in failed


@pytest.mark.sqlite_only  # the register pages and forms; the registers' services run on PostgreSQL in this file's other tests
def test_form_errors_name_the_field(perimeter_app, client, login_as):
    login_as("manager")
    page = post(client, "subcontractors", name="X", country="US", technical_data_access="no", access_justification="a",
                qualified="y", qualification_decision="D", qualification_date="12/03/2024").get_data(as_text=True)
    assert "Date de la décision de qualification" in page  # not a date: the form refuses it, naming the field
    page = post(client, "subcontractors", name="X", country="US", technical_data_access="maybe").get_data(as_text=True)
    assert "Peut techniquement accéder aux données techniques" in page
    page = post(client, "links", body="Agency", country="FR").get_data(as_text=True)
    assert "pays : FR est un État membre de l’Union" in page
    page = post(client, "changes", kind="legal", changed_on="", description="x").get_data(as_text=True)
    assert "Date du changement" in page


@pytest.mark.sqlite_only  # the register pages and forms; the registers' services run on PostgreSQL in this file's other tests
def test_links_declaration_changes_and_notices_from_the_page(perimeter_app, client, login_as):
    app = perimeter_app
    login_as("manager")
    page = client.get(PAGE).get_data(as_text=True)
    assert "Aucune déclaration" in page and "Déclarer qu'il n'existe aucun lien" in page
    page = post(client, "links/none", statement="Aucun lien hors UE.").get_data(as_text=True)
    assert "Absence de lien déclarée." in page and "Aucun lien : déclaré par" in page
    page = post(client, "links", body="Ministry of Trade", country="sg", nature="Subvention 2024").get_data(as_text=True)
    assert "Lien enregistré." in page and "non évalué" in page and "Aucun lien : déclaré par" not in page
    with app.app_context(), session_for(app) as session:
        link = session.exec(select(ForeignPublicLink)).one()
    assert "Subvention 2024" in client.get(PAGE + f"links/{link.id}").get_data(as_text=True)
    page = post(client, f"links/{link.id}", body="Ministry of Trade", country="SG", nature="Subvention 2024",
                assessment="Aucune contrepartie ni accès.", assessed_on="2026-06-10").get_data(as_text=True)
    assert "Aucune contrepartie ni accès." in page and "évalué le 10 juin 2026" in page
    with app.app_context(), session_for(app) as session:
        iaas_id = perimeters.get_perimeter(session, "iaas-s").id
    page = post(client, "changes", kind="technical", changed_on="2026-05-01", description="Nouveau centre de supervision",
                perimeters=str(iaas_id)).get_data(as_text=True)
    assert "Changement enregistré." in page and "Nouveau centre de supervision" in page
    assert "non informés, échéance dépassée de 14 j" in page  # deadline 2026-06-01, today 2026-06-15
    with app.app_context(), session_for(app) as session:
        change = session.exec(select(SovereigntyChange).where(SovereigntyChange.description == "Nouveau centre de supervision")).one()
    assert "Nouveau centre de supervision" in client.get(PAGE + f"changes/{change.id}").get_data(as_text=True)
    page = post(client, f"changes/{change.id}/notices", sent_on="2026-06-05", scope="perimeter",
                means="Lettre recommandée").get_data(as_text=True)
    assert "Information des commanditaires enregistrée." in page and "informés avec 4 j de retard" in page
    assert "commanditaires informés le 5 juin 2026, 4 jours après l&#39;échéance du 1er juin 2026" in page
    with app.app_context(), session_for(app) as session:
        notice = session.exec(select(ChangeNotice)).one()
    page = post(client, f"notice/{notice.id}/delete", confirmed="1").get_data(as_text=True)
    assert "Ligne supprimée." in page and "non informés, échéance dépassée de 14 j" in page
    post(client, f"change/{change.id}/delete", confirmed="1")
    post(client, f"link/{link.id}/delete", confirmed="1")
    with app.app_context(), session_for(app) as session:
        assert session.get(SovereigntyChange, change.id) is None and session.get(ForeignPublicLink, link.id) is None
        actions = {e.action for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("sovereignty.%")))}
    assert {"sovereignty.foreign_link_declaration.create", "sovereignty.foreign_link.update", "sovereignty.change.create",
            "sovereignty.change_notice.create", "sovereignty.change_notice.delete", "sovereignty.sovereignty_change.delete",
            "sovereignty.foreign_public_link.delete"} <= actions


@pytest.mark.parametrize("role", ["auditor", "contributor"])
@pytest.mark.sqlite_only  # the register pages and forms; the registers' services run on PostgreSQL in this file's other tests
def test_only_compliance_roles_edit_the_new_registers(perimeter_app, client, login_as, role):
    login_as(role)
    page = client.get(PAGE).get_data(as_text=True)
    assert "Liens avec des gouvernements ou organismes publics étrangers (19.6.e)" in page
    assert "Enregistrer un changement" not in page and "Recenser un lien" not in page
    token = csrf_token(client, PAGE)
    for path in ("links", "links/none", "links/1", "changes", "changes/1", "changes/1/notices", "notice/1/delete"):
        assert client.post(PAGE + path, data={"csrf_token": token}).status_code == 403, path
    assert client.get(PAGE + "links/1").status_code == 403


@pytest.mark.sqlite_only  # the register pages and forms; the registers' services run on PostgreSQL in this file's other tests
def test_posts_without_a_csrf_token_are_refused(perimeter_app, client, login_as):
    app = perimeter_app
    login_as("manager")
    for path, data in [("links/none", {}), ("changes", {"kind": "legal", "changed_on": "2026-06-01", "description": "x"})]:
        client.post(PAGE + path, data=data)
    with app.app_context(), session_for(app) as session:
        assert session.exec(select(ForeignLinkDeclaration)).all() == [] and session.exec(select(SovereigntyChange)).all() == []


# --- The demo ------------------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # the register pages and forms; the registers' services run on PostgreSQL in this file's other tests
def test_demo_registers(demo_loaded, client):
    app = demo_loaded
    app.config["TODAY"] = DEMO_DAY
    login(client, "helene.dubois@nuage-souverain.example")  # the auditor reads the registers
    page = client.get("/perimeters/saas-collab/sovereignty/").get_data(as_text=True)
    assert "Stratoforge Software Inc." in page and "Atlantic Storage Group Inc." in page and "informés avec 14 j de retard" in page
    assert "Aucun lien : déclaré par Claire Fontaine" in page and "Recenser un lien" not in page
    with app.app_context(), session_for(app) as session:
        iaas, saas = perimeters.get_perimeter(session, "iaas-fr1"), perimeters.get_perimeter(session, "saas-collab")
        checks = {code: {c.requirement: c for c in sovereignty.checks(sovereignty.registers(session, p, DEMO_DAY))}
                  for code, p in (("iaas-fr1", iaas), ("saas-collab", saas))}
        licensor = session.exec(select(Subcontractor).where(Subcontractor.name == "Stratoforge Software Inc.")).one()
        telemetrix_change = session.exec(select(SovereigntyChange).where(SovereigntyChange.description.like("%Telemetrix%"))).one()
    for code in ("iaas-fr1", "saas-collab"):
        assert checks[code]["19.6.d"].passed and checks[code]["19.6.e"].passed, code
    assert licensor.own_skills and "séquestre" in licensor.autonomy_arrangements and not licensor.data_access
    assert checks["iaas-fr1"]["19.6.c"].passed and checks["iaas-fr1"]["19.6.f"].passed
    assert [p.code for p in checks["saas-collab"]["19.6.c"].problems] == ["third_party_access"]
    assert ("Telemetrix Inc. (États-Unis) : accès technique possible aux données des commanditaires et aux données "
            "techniques") in page
    late = checks["saas-collab"]["19.6.f"].problems
    assert [p.code for p in late] == ["notice_late"] and late[0].params["days"] == 14
    assert "Montréal" in late[0].params["description"] and "14 jours après l&#39;échéance" in page
    # The shareholding figures are the table's non-EU total (Atlantic Bridge Ventures LP, US: 11 % / 9 %).
    text = plain(page)
    assert "capital détenu hors UE (détentions directes) : 11 %" in text
    assert "Total hors UE (détentions directes, comptées par 19.6.b)</th><td>11 %</td><td>9 %</td>" in text
    assert telemetrix_change.kind == "technical" and telemetrix_change.changed_on == DEMO_DAY  # today's: still in time


# --- The migration -------------------------------------------------------------------------------------------


def test_migration_keeps_third_parties_and_leaves_technical_access_unassessed(blank_database_url):
    from alembic import command

    engine = db.make_engine(blank_database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(db.alembic_config(conn), "0004")
            conn.execute(text("INSERT INTO subcontractor (name, country, service, data_access, access_justification, "
                              "qualified, contract_ref, updated_at) VALUES ('Old Ops', 'US', '', :no, 'Aucun accès', :yes, "
                              "'', '2026-01-01 00:00:00+00:00')"), {"no": False, "yes": True})
        with engine.begin() as conn:
            command.upgrade(db.alembic_config(conn), "0005")
        with engine.connect() as conn:
            row = conn.execute(text("SELECT name, technical_data_access, parent_name, parent_voting_bp, own_skills, "
                                    "qualification_decision FROM subcontractor")).one()
            assert tuple(row) == ("Old Ops", None, "", 0, False, "")
        tables = set(inspect(engine).get_table_names())
        assert {"foreign_public_link", "foreign_link_declaration", "sovereignty_change", "sovereignty_change_perimeter",
                "change_notice"} <= tables
        with engine.begin() as conn:
            command.downgrade(db.alembic_config(conn), "0004")
        assert "change_notice" not in inspect(engine).get_table_names()
        assert "parent_name" not in {c["name"] for c in inspect(engine).get_columns("subcontractor")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM subcontractor")).scalar() == "Old Ops"
    finally:
        engine.dispose()


# --- Sites: name and role ------------------------------------------------------------------------------------


def test_sites_take_a_name_and_a_role_within_limits(perimeter_app):
    app = perimeter_app
    with app.app_context(), session_for(app) as session:
        iaas = perimeters.get_perimeter(session, "iaas-s")
        site = sovereignty.add_site(session, None, iaas, "Centre de données", "Vénissieux", "fr", name=" PAR-2 ",
                                    role="Production : calcul et stockage des commanditaires")
        assert (site.name, site.role, site.country) == ("PAR-2", "Production : calcul et stockage des commanditaires", "FR")
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "sovereignty.site.create")).one()
        assert event.details["name"] == "PAR-2" and event.details["role"].startswith("Production")
        assert sovereignty.add_site(session, None, iaas, "SOC", "", "FR").name == ""  # both optional
        for kwargs, message in [({"name": "n" * 121}, "nom du site : 121 caractères, 120 au plus"),
                                ({"role": "r" * 501}, "rôle du site : 501 caractères, 500 au plus")]:
            with pytest.raises(EvidenceError, match=f"^{message}"):
                sovereignty.add_site(session, None, iaas, "Centre", "Lyon", "FR", **kwargs)


@pytest.mark.sqlite_only  # the register pages and forms; the registers' services run on PostgreSQL in this file's other tests
def test_site_form_and_listing(perimeter_app, client, login_as):
    login_as("manager")
    page = post(client, "sites", name="Campus Lyon", kind="Centre de supervision", role="Supervision 24/7 du socle",
                city="Lyon", country="FR").get_data(as_text=True)
    assert "Site ajouté." in page
    assert "<strong>Campus Lyon</strong>" in page and "Supervision 24/7 du socle" in page and "Centre de supervision" in page
    assert 'name="role"' in page and 'name="name"' in page
    page = post(client, "sites", name="x" * 121, kind="Centre", country="FR").get_data(as_text=True)
    assert "Nom du site" in page and "Site ajouté." not in page  # refused, the field named
    page = post(client, "sites", kind="Centre", role="r" * 501, country="FR").get_data(as_text=True)
    assert "Rôle pour le périmètre" in page and "Site ajouté." not in page


def test_a_removal_is_described_in_words_not_table_names(perimeter_app):
    app = perimeter_app
    with app.app_context(), session_for(app) as session:
        iaas = perimeters.get_perimeter(session, "iaas-s")
        row = sovereignty.add_data_location(session, None, iaas, "customer_data", "stored", "FR", today=DAY)
        sovereignty.delete_row(session, None, row, today=DAY)
        operation = sovereignty.add_operation(session, None, iaas, "support_l2", "FR", today=DAY)
        sovereignty.delete_row(session, None, operation, today=DAY)
        descriptions = [c.description for c in session.exec(select(SovereigntyChange).order_by(SovereigntyChange.id))]
    assert descriptions == ["localisation des données retirée : données des commanditaires (stockage), France",
                            "lieu d'opération retiré : support N2, France"]
