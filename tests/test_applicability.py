"""Applicability and coverage on the demo provider, through the web pages and the command line.

SecNumCloud admits no exclusion of an unconditional exigence, whoever asks (the form, `evidence applicability set`,
`evidence applicability import`); a conditional item may be declared not applicable, with a justification, audited.
Recommendations are never gaps. Only approved, unexpired evidence valid for a perimeter is cited as its proof (gap
rows, matrix, dossier). A waiver answers an expected evidence entry. Migration 0006 puts data written under the old
rules right.
"""
import csv
import io
import json
import re

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from evidence.data import database as db
from evidence.data.models import (
    Applicability,
    AuditEvent,
    ControlPerimeter,
    Evidence,
    EvidenceControl,
    EvidencePerimeter,
    EvidenceVersion,
    Framework,
    Requirement,
)
from evidence.dossier.snapshot import take_snapshot
from evidence.services import gaps
from evidence.services.perimeters import get_perimeter

from .conftest import DEMO_DAY, csrf_token, login

MANAGER = "claire.fontaine@nuage-souverain.example"  # the demo's compliance manager
AUDITOR = "helene.dubois@nuage-souverain.example"
NO_EXCLUSION = "n’admet aucune exclusion"
NO_EXCLUSION_EN = "allows no exclusion"  # the command line speaks English in the tests
JUSTIFICATION = "Aucun tunnel IPsec n’est opéré sur le socle : les flux inter-sites passent par des liaisons louées."
FLASH_ERROR = re.compile(r'<p class="flash flash-error"[^>]*>(.*?)</p>', re.S)
FIELD_ERROR = re.compile(r'<p class="field-error" id="([a-z_]+)-error">(.*?)</p>', re.S)


@pytest.fixture
def demo_app(demo_loaded):
    demo_loaded.config["TODAY"] = DEMO_DAY
    return demo_loaded


def decisions(app, code: str) -> dict:
    """ref -> (applicable, reason, justification) of the perimeter's recorded applicability decisions."""
    with app.app_context(), db.session_scope(app) as session:
        perimeter = get_perimeter(session, code)
        return {ref: (row.applicable, row.reason, row.justification) for row, ref in session.exec(
            select(Applicability, Requirement.ref).join(Requirement, Requirement.id == Applicability.requirement_id)
            .where(Applicability.perimeter_id == perimeter.id))}


def events(app, *actions: str) -> list[tuple[str, str, dict]]:
    """(action, actor, details) of the audit events of these actions, oldest first."""
    with app.app_context(), db.session_scope(app) as session:
        return [(e.action, e.actor, e.details) for e in session.exec(
            select(AuditEvent).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.seq))]


def manager_client(app):
    client = app.test_client()
    assert login(client, MANAGER).status_code == 302
    return client


def post_applicability(client, ref: str, state: str, justification: str, code: str = "iaas-fr1"):
    url = f"/perimeters/{code}/applicability/{ref}"
    return client.post(url, data={"csrf_token": csrf_token(client, url), "state": state, "justification": justification})


def flash_errors(page: str) -> list[str]:
    return FLASH_ERROR.findall(page)


def field_errors(page: str) -> list[tuple[str, str]]:
    """(field, message) of every refusal shown beside a field of the form."""
    return FIELD_ERROR.findall(page)


def show(app, code: str = "iaas-fr1") -> dict:
    result = app.test_cli_runner().invoke(args=["applicability", "show", code, "--format", "json"])
    assert result.exit_code == 0, result.output
    return {record["ref"]: record for record in json.loads(result.output)}


# --- no exclusion of an unconditional exigence ---------------------------------------------------------------


def test_an_unconditional_exigence_cannot_be_set_not_applicable_from_the_form(demo_app):
    before, trail = decisions(demo_app, "iaas-fr1"), events(demo_app, "applicability.change")
    client = manager_client(demo_app)
    response = post_applicability(client, "5.1.a", "not_applicable", "Nous estimons ce point hors de notre périmètre.")
    assert response.status_code == 200  # the form again, with the refusal
    errors = field_errors(response.get_data(as_text=True))  # beside the applicability chosen
    assert len(errors) == 1 and errors[0][0] == "state", errors
    assert errors[0][1].startswith("5.1.a : le référentiel SecNumCloud " + NO_EXCLUSION), errors
    assert decisions(demo_app, "iaas-fr1") == before and "5.1.a" not in before
    assert events(demo_app, "applicability.change") == trail
    assert show(demo_app)["5.1.a"]["applicability"] == "applicable"


def test_an_unconditional_exigence_cannot_be_set_not_applicable_from_the_command_line(demo_app):
    before, trail = decisions(demo_app, "iaas-fr1"), events(demo_app, "applicability.change")
    result = demo_app.test_cli_runner().invoke(args=[
        "applicability", "set", "iaas-fr1", "5.1.a", "not_applicable", "--justification", "Hors périmètre"])
    assert result.exit_code != 0 and NO_EXCLUSION_EN in result.output, result.output
    assert "Traceback" not in result.output
    assert decisions(demo_app, "iaas-fr1") == before
    assert events(demo_app, "applicability.change") == trail


# --- a conditional exigence may be, with a justification --------------------------------------------------------


def test_a_conditional_exigence_is_set_not_applicable_from_the_form_with_a_justification(demo_app):
    assert show(demo_app)["10.2.d"] | {"justification": ""} == {
        "ref": "10.2.d", "kind": "exigence", "applicability": "applicable", "basis": "", "derived": True,
        "justification": "", "conditional": True}
    client = manager_client(demo_app)
    trail = events(demo_app, "applicability.change")
    refused = post_applicability(client, "10.2.d", "not_applicable", "  ")
    assert refused.status_code == 200
    assert ("justification", "10.2.d : une justification est requise (pourquoi la condition de l’exigence n’est pas "
            "remplie, ou pourquoi l’hériter du socle).") in field_errors(refused.get_data(as_text=True))
    assert "10.2.d" not in decisions(demo_app, "iaas-fr1")
    assert events(demo_app, "applicability.change") == trail

    response = post_applicability(client, "10.2.d", "not_applicable", JUSTIFICATION)
    assert response.status_code == 302
    assert decisions(demo_app, "iaas-fr1")["10.2.d"] == (False, "condition", JUSTIFICATION)
    added = events(demo_app, "applicability.change")[len(trail):]
    assert added == [("applicability.change", MANAGER, {
        "requirement": "10.2.d", "from": "applicable", "to": "not_applicable", "justification": JUSTIFICATION})]
    record = show(demo_app)["10.2.d"]
    assert (record["applicability"], record["basis"], record["derived"], record["justification"]) == (
        "not_applicable", "condition", False, JUSTIFICATION)
    # Not applicable: out of the readiness count and of the gaps.
    with demo_app.app_context(), db.session_scope(demo_app) as session:
        result = gaps.compute(session, get_perimeter(session, "iaas-fr1"), DEMO_DAY)
    row = next(r for r in result.rows if r.requirement.ref == "10.2.d")
    assert row.status.status == "not_applicable" and row not in result.gaps()


def test_a_conditional_exigence_is_set_not_applicable_from_the_command_line_with_a_justification(demo_app):
    runner = demo_app.test_cli_runner()
    refused = runner.invoke(args=["applicability", "set", "iaas-fr1", "10.2.d", "not_applicable"])
    assert refused.exit_code != 0 and "a justification is required" in refused.output, refused.output
    assert "10.2.d" not in decisions(demo_app, "iaas-fr1")
    trail = events(demo_app, "applicability.change")

    result = runner.invoke(args=["applicability", "set", "iaas-fr1", "10.2.d", "not_applicable",
                                 "--justification", JUSTIFICATION])
    assert result.exit_code == 0, result.output
    assert decisions(demo_app, "iaas-fr1")["10.2.d"] == (False, "condition", JUSTIFICATION)
    [(action, actor, details)] = events(demo_app, "applicability.change")[len(trail):]
    assert actor.startswith("cli") and details == {
        "requirement": "10.2.d", "from": "applicable", "to": "not_applicable", "justification": JUSTIFICATION}
    assert show(demo_app)["10.2.d"]["applicability"] == "not_applicable"
    # And back: the decision row goes, the referential's default applies again (audited too).
    assert runner.invoke(args=["applicability", "set", "iaas-fr1", "10.2.d", "applicable"]).exit_code == 0
    assert "10.2.d" not in decisions(demo_app, "iaas-fr1")
    assert events(demo_app, "applicability.change")[-1][2]["to"] == "applicable"


def test_the_applicability_import_is_all_or_nothing_and_names_the_refused_row(demo_app, tmp_path):
    runner = demo_app.test_cli_runner()
    before, trail = decisions(demo_app, "iaas-fr1"), events(demo_app, "applicability.change")
    lines = ["ref;state;justification",
             f"10.2.d;not_applicable;{JUSTIFICATION}",  # row 2: a conditional exigence, justified
             "10.4.b;not_applicable;Aucun poste d’administration n’est partagé.",  # row 3: a recommendation
             "5.1.a;not_applicable;Hors périmètre"]  # row 4: refused
    path = tmp_path / "soa.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["applicability", "import", "iaas-fr1", str(path)])
    assert result.exit_code != 0, result.output
    assert "no decision recorded" in result.output and "line 4" in result.output, result.output
    assert "5.1.a" in result.output and NO_EXCLUSION_EN in result.output
    assert "line 2" not in result.output and "line 3" not in result.output
    assert decisions(demo_app, "iaas-fr1") == before  # rows 2 and 3 were fine: nothing of them was kept either
    assert events(demo_app, "applicability.change") == trail

    path.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    result = runner.invoke(args=["applicability", "import", "iaas-fr1", str(path)])
    assert result.exit_code == 0 and "2 decision(s) applied" in result.output, result.output
    after = decisions(demo_app, "iaas-fr1")
    assert after["10.2.d"] == (False, "condition", JUSTIFICATION)
    assert after["10.4.b"][:2] == (False, "condition")  # a conditional recommendation
    assert [d["requirement"] for _a, _actor, d in events(demo_app, "applicability.change")[len(trail):]] == [
        "10.2.d", "10.4.b"]


# --- recommendations are never gaps ----------------------------------------------------------------------------


def test_recommendations_are_never_among_the_gaps(demo_app):
    with demo_app.app_context(), db.session_scope(demo_app) as session:
        recommendations = set(session.exec(
            select(Requirement.ref).join(Framework, Framework.id == Requirement.framework_id)
            .where(Requirement.kind == "recommandation", Framework.key == "secnumcloud-3.2")))
    assert len(recommendations) == 17 and {"10.2.b", "10.4.b"} <= recommendations
    result = demo_app.test_cli_runner().invoke(args=["gaps", "iaas-fr1", "--format", "json"])
    assert result.exit_code == 1  # exigences still have gaps
    payload = json.loads(result.output)
    assert payload["gaps"] and {g["kind"] for g in payload["gaps"]} == {"exigence"}
    assert not {g["ref"] for g in payload["gaps"]} & recommendations
    not_followed = payload["recommendations_not_followed"]
    assert not_followed and {g["kind"] for g in not_followed} == {"recommandation"}
    assert {g["ref"] for g in not_followed} <= recommendations
    assert {g["status"] for g in not_followed} == {"not_followed"}
    assert set(payload["readiness"]) == {"covered", "applicable", "percent"}


# --- only approved evidence valid for the perimeter is cited ---------------------------------------------------


def _cited_in_matrix(app, code: str) -> set[str]:
    client = app.test_client()
    login(client, AUDITOR)
    data = client.get(f"/perimeters/{code}/matrix.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(data), delimiter=";"))
    column = rows[0].index("Preuves citées")
    return {ref for row in rows[1:] for ref in re.findall(r"EV-\d{4}", row[column])}


def test_only_approved_evidence_in_the_perimeters_scope_is_cited(demo_app):
    app = demo_app
    with app.app_context(), db.session_scope(app) as session:
        iaas, saas = get_perimeter(session, "iaas-fr1"), get_perimeter(session, "saas-collab")
        in_iaas = set(session.exec(select(EvidencePerimeter.evidence_id).where(EvidencePerimeter.perimeter_id == iaas.id)))
        deployed = set(session.exec(select(ControlPerimeter.control_id).where(ControlPerimeter.perimeter_id == iaas.id)))
        status, outside, tempting = {}, set(), set()
        for evidence in session.exec(select(Evidence)):
            status[evidence.ref] = evidence.status
            if evidence.id not in in_iaas:
                outside.add(evidence.ref)
                controls = set(session.exec(select(EvidenceControl.control_id).where(EvidenceControl.evidence_id == evidence.id)))
                if evidence.status == "approved" and controls & deployed:
                    tempting.add(evidence.ref)  # approved, and proves a control iaas-fr1 deploys: still not its proof
        approved_versions = {}
        for ref, number in session.exec(select(Evidence.ref, EvidenceVersion.number)
                                        .join(EvidenceVersion, EvidenceVersion.evidence_id == Evidence.id)
                                        .where(EvidenceVersion.approved_at.is_not(None))):
            approved_versions[ref] = max(number, approved_versions.get(ref, 0))
        result = gaps.compute(session, iaas, DEMO_DAY)
        saas_result = gaps.compute(session, saas, DEMO_DAY)
        snapshot = take_snapshot(session, iaas, DEMO_DAY, {"classification": "Interne", "attach_evidence": False},
                                 organisation="")
    assert tempting, "the demo has saas-collab-only evidence proving controls deployed in iaas-fr1"

    proofs = {e.ref for row in result.rows for e in row.proofs}
    seen = {e.ref for row in result.rows for e in row.evidence}
    pending = {e.ref for row in result.rows for e in row.pending}
    assert proofs and not seen & outside  # evidence of another perimeter never even shows
    assert all(status[ref] == "approved" for ref in proofs)
    assert {"draft", "rejected", "in_review"} <= {status[ref] for ref in pending}  # shown as pending, never cited
    assert all(e.freshness != "expired" for row in result.rows for e in row.proofs)
    assert tempting & {e.ref for row in saas_result.rows for e in row.proofs}  # where it is valid, it is cited

    in_matrix = _cited_in_matrix(app, "iaas-fr1")
    assert in_matrix == proofs

    cited = {e["ref"]: e for e in snapshot["evidence"]}
    assert set(cited) == proofs
    assert {ref for item in snapshot["items"] for ref in item["evidence"]} <= set(cited)
    assert all(e["version"] == approved_versions[ref] for ref, e in cited.items())  # pinned at the approved version


def test_a_new_version_is_not_cited_until_approved(demo_app):
    app = demo_app
    from evidence.data import storage
    from evidence.data.models import User
    from evidence.services import evidence as evidence_items

    with app.app_context(), db.session_scope(app) as session:
        iaas = get_perimeter(session, "iaas-fr1")
        proofs = {e.ref for row in gaps.compute(session, iaas, DEMO_DAY).rows for e in row.proofs}
        evidence = session.exec(select(Evidence).where(Evidence.ref.in_(proofs), Evidence.kind != "link")
                                .order_by(Evidence.ref)).first()
        owner = session.get(User, evidence.owner_id)
        evidence_items.add_version(session, owner, evidence, store=storage.get_store(app),
                                   upload=io.BytesIO(b"not yet reviewed"), filename="draft.pdf")
        ref = evidence.ref
        result = gaps.compute(session, iaas, DEMO_DAY)
        snapshot = take_snapshot(session, iaas, DEMO_DAY, {"classification": "Interne", "attach_evidence": False},
                                 organisation="")
    assert ref not in {e.ref for row in result.rows for e in row.proofs}
    assert ref in {e.ref for row in result.rows for e in row.pending}
    assert ref not in {e["ref"] for e in snapshot["evidence"]}
    assert ref not in _cited_in_matrix(app, "iaas-fr1")


# --- waivers ---------------------------------------------------------------------------------------------------


def _row(app, ref: str):
    with app.app_context(), db.session_scope(app) as session:
        return next(r for r in gaps.compute(session, get_perimeter(session, "iaas-fr1"), DEMO_DAY).rows
                    if r.requirement.ref == ref)


def test_a_waiver_answers_an_entry_and_is_audited(demo_app):
    app = demo_app
    with app.app_context(), db.session_scope(app) as session:
        result = gaps.compute(session, get_perimeter(session, "iaas-fr1"), DEMO_DAY)
        # An exigence whose only gap is one expected evidence entry nothing usable answers.
        row = next(r for r in result.exigences() if len(r.status.unanswered) == 1 and r.status.reasons in (
            ("entry_missing",), ("evidence_expired",), ("evidence_not_approved",)))
        ref, entry, before = row.requirement.ref, row.status.unanswered[0].id, row.status.unanswered[0].state
        covered = result.readiness.covered
    url = f"/perimeters/iaas-fr1/waiver/{ref}"
    client = manager_client(app)
    token = csrf_token(client, f"/perimeters/iaas-fr1/verdict/{ref}")
    refused = client.post(url, data={"csrf_token": token, "entry": entry, "justification": ""}, follow_redirects=True)
    assert any("une dispense doit être justifiée" in e for e in flash_errors(refused.get_data(as_text=True)))
    assert events(app, "waiver.set", "waiver.clear") == []

    why = "Le contrat d’hébergement couvre ce point ; pièce remise au CESTI."
    assert client.post(url, data={"csrf_token": token, "entry": entry, "justification": why}).status_code == 302
    row = _row(app, ref)
    assert {e.id: e.state for e in row.status.entries}[entry] == "waived"
    assert row.status.status == "covered" and entry in row.waivers
    assert events(app, "waiver.set", "waiver.clear") == [("waiver.set", MANAGER, {
        "requirement": ref, "entry": entry, "justification": why, "before": None})]
    with app.app_context(), db.session_scope(app) as session:
        assert gaps.compute(session, get_perimeter(session, "iaas-fr1"), DEMO_DAY).readiness.covered == covered + 1

    # The item's page is readable by the auditor, who sees the waiver and may not lift it.
    auditor = app.test_client()
    login(auditor, AUDITOR)
    page = auditor.get(f"/perimeters/iaas-fr1/verdict/{ref}")
    assert page.status_code == 200 and why in page.get_data(as_text=True)
    assert "Lever la dispense" not in page.get_data(as_text=True)
    token = csrf_token(auditor, f"/perimeters/iaas-fr1/verdict/{ref}")
    assert auditor.post(url, data={"csrf_token": token, "entry": entry, "clear": "1"}).status_code == 403

    token = csrf_token(client, f"/perimeters/iaas-fr1/verdict/{ref}")
    assert client.post(url, data={"csrf_token": token, "entry": entry, "clear": "1", "confirmed": "1"}).status_code == 302
    assert {e.id: e.state for e in _row(app, ref).status.entries}[entry] == before
    assert events(app, "waiver.set", "waiver.clear")[-1] == ("waiver.clear", MANAGER, {
        "requirement": ref, "entry": entry, "justification": why})


# --- migration 0006 ----------------------------------------------------------------------------------------------

NOW = "2026-05-01 10:00:00"
OLD_VERDICTS = {  # ref -> (status at 0005, status after 0006); 10.2.b is a recommendation now
    "6.1.a": ("compliant", "covered"),
    "7.1.a": ("partial", "partly_covered"),
    "8.1.a": ("non_compliant", "not_covered"),
    "10.2.b": ("compliant", "followed"),
    "12.4.a": ("not_applicable", None),  # a verdict no longer decides applicability: it goes, audited
}


def _insert_at_0005(conn) -> None:
    conn.execute(text(
        "INSERT INTO framework (id, key, name, version, locale, source, assessed, origin) "
        "VALUES (1, 'secnumcloud-3.2', 'SecNumCloud', '3.2', 'fr', 'ANSSI', :t, 'bundled')"), {"t": True})
    refs = ["5.1.a", "10.2.d", *OLD_VERDICTS]
    for n, ref in enumerate(refs, start=1):
        conn.execute(text(
            "INSERT INTO requirement (id, framework_id, ref, chapter, section, title, title_en, summary, official_text, "
            "kind, service_types, built_on_types, expected_evidence, urns, \"order\") VALUES (:id, 1, :ref, :chapter, "
            ":section, :ref, '', '', '', 'exigence', '[]', '[]', :entries, '[]', :id)"),
            {"id": n, "ref": ref, "chapter": ref.split(".")[0], "section": ref.rsplit(".", 1)[0],
             "entries": json.dumps([f"Preuve de {ref}"])})  # plain texts, as 0005 stored them
    conn.execute(text(
        "INSERT INTO perimeter (id, code, name, description, service_types, framework_id, phase, evaluation_centre, "
        "version, created_at, updated_at) VALUES (1, 'iaas-old', 'Socle', '', '[\"IaaS\"]', 1, 'preparation', '', 1, "
        ":now, :now)"), {"now": NOW})
    for n, (ref, justification) in enumerate([("5.1.a", "Exclu par nos soins en 2025"),
                                              ("10.2.d", "Aucun tunnel IPsec")], start=1):
        conn.execute(text(
            "INSERT INTO applicability (id, perimeter_id, requirement_id, applicable, reason, justification, "
            "updated_at) VALUES (:id, 1, :req, :f, 'manual', :j, :now)"),
            {"id": n, "req": refs.index(ref) + 1, "f": False, "j": justification, "now": NOW})
    for n, (ref, (status, _new)) in enumerate(OLD_VERDICTS.items(), start=1):
        conn.execute(text(
            "INSERT INTO verdict (id, perimeter_id, requirement_id, status, justification, decided_at) "
            "VALUES (:id, 1, :req, :s, :j, :now)"),
            {"id": n, "req": refs.index(ref) + 1, "s": status, "j": f"Verdict sur {ref}", "now": NOW})
    conn.execute(text(
        "INSERT INTO readiness_snapshot (id, perimeter_id, taken_on, compliant, partial, non_compliant, applicable, "
        "chapters, updated_at) VALUES (1, 1, '2026-04-30', 3, 2, 1, 6, '{}', :now)"), {"now": NOW})


def test_migration_0006_restores_disallowed_exclusions_and_converts_verdicts(blank_database_url):
    from alembic import command

    from evidence.data import audit

    engine = db.make_engine(blank_database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(db.alembic_config(conn), "0005")
        with engine.begin() as conn:
            _insert_at_0005(conn)
        db.migrate(engine)
        assert db.current_revision(engine) not in (None, "0005")
        with engine.connect() as conn:
            applicability = conn.execute(text(
                "SELECT r.ref, a.applicable, a.justification FROM applicability a "
                "JOIN requirement r ON r.id = a.requirement_id")).all()
            verdicts = dict(conn.execute(text(
                "SELECT r.ref, v.status FROM verdict v JOIN requirement r ON r.id = v.requirement_id")).all())
            snapshot = conn.execute(text(
                "SELECT covered, partly_covered, not_covered, applicable FROM readiness_snapshot")).one()
            entries = conn.execute(text("SELECT expected_evidence FROM requirement WHERE ref = '5.1.a'")).scalar()
        # 5.1.a is unconditional: back to applicable; 10.2.d is conditional: its justified exclusion stands.
        assert [(ref, bool(applicable), j) for ref, applicable, j in applicability] == [
            ("10.2.d", False, "Aucun tunnel IPsec")]
        assert verdicts == {ref: new for ref, (_old, new) in OLD_VERDICTS.items() if new is not None}
        assert tuple(snapshot) == (3, 2, 1, 6)
        entries = entries if isinstance(entries, list) else json.loads(entries)
        assert entries == [{"id": "5.1.a#1", "text": "Preuve de 5.1.a", "text_en": ""}]
        with Session(engine) as session:
            trail = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
            assert audit.verify(session) == (len(trail), None)  # the migration's events extend the hash chain
        restored = [e for e in trail if e.action == "applicability.restore"]
        assert len(restored) == 1 and restored[0].actor == "migration:0006"
        assert restored[0].details["requirement"] == "5.1.a"
        assert restored[0].details["justification"] == "Exclu par nos soins en 2025"  # kept in the audit trail
        assert (restored[0].details["from"], restored[0].details["to"]) == ("not_applicable", "applicable")
        cleared = [e for e in trail if e.action == "verdict.clear"]
        assert [(e.details["requirement"], e.details["was"], e.details["justification"]) for e in cleared] == [
            ("12.4.a", "not_applicable", "Verdict sur 12.4.a")]
    finally:
        engine.dispose()
