"""Dossier versions: four eyes on approval (the rule, the service, the web form, the command line), the approved
version rendered apart from the draft, the history and the comparison of two versions, the bundled version.

Most tests lay no PDF out (`fake_pdf` stands in for WeasyPrint): what is under test is the life cycle. One test
renders for real, to see the draft's mark go from the approved version."""
import io
import json
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from sqlmodel import select

from evidence import context
from evidence.core import rules
from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import AuditEvent, Dossier, DossierApproval, Requirement, User
from evidence.dossier import diff as dossier_diff
from evidence.dossier import generate as life
from evidence.dossier import history
from evidence.dossier.pdf import RenderResult
from evidence.services import dossier_signoff, perimeters
from evidence.services import evidence as evidence_items
from tests.conftest import seed_tiny_perimeter
from tests.english import refused

from .conftest import csrf_token, login

DAY = date(2026, 6, 15)
RSSI = "Responsable de la sécurité des systèmes d'information (RSSI)"
DIRECTION = "Direction"
FUNCTIONS = (RSSI, DIRECTION)
S = rules.signoff


# --- the rule, alone --------------------------------------------------------------------------------------------

FIRST = [S.Approval(1, RSSI)]


@pytest.mark.parametrize("role, user_id, function, status, approved, given, code", [
    ("manager", 1, RSSI, "draft", False, [], None),
    ("admin", 2, DIRECTION, "draft", False, FIRST, None),
    ("manager", 1, DIRECTION, "draft", False, FIRST, S.SAME_PERSON),
    ("admin", 2, RSSI, "draft", False, FIRST, S.SAME_FUNCTION),
    ("contributor", 3, DIRECTION, "draft", False, FIRST, S.NOT_AN_APPROVER),
    ("auditor", 4, DIRECTION, "draft", False, [], S.NOT_AN_APPROVER),
    ("manager", 1, "Stagiaire", "draft", False, [], S.UNKNOWN_FUNCTION),
    ("manager", 1, RSSI, "queued", False, [], S.NOT_A_DRAFT),
    ("manager", 1, RSSI, "rendering", False, [], S.NOT_A_DRAFT),
    ("manager", 1, RSSI, "failed", False, [], S.NOT_A_DRAFT),
    ("admin", 2, DIRECTION, "failed", True, FIRST, S.ALREADY_APPROVED),  # a final render that failed
    ("admin", 2, DIRECTION, "approved", True, FIRST, S.ALREADY_APPROVED),
])
def test_the_four_eyes_rule(role, user_id, function, status, approved, given, code):
    try:
        # Administrators approve here (ADMIN_APPROVES): the separation of duties is tests/test_separation_of_duties.py.
        S.check_approval(role, user_id, function, status, approved, given, FUNCTIONS, admin_approves=True)
        refused = None
    except S.SignoffRefused as error:
        refused = error.code
    assert refused == code


def test_two_functions_are_needed_and_read_from_the_setting():
    assert S.approver_functions(f" {RSSI} ;Direction;; Direction ") == FUNCTIONS
    with pytest.raises(S.SignoffRefused) as refused:
        S.check_approval("manager", 1, DIRECTION, "draft", False, [], ("Direction",))
    assert refused.value.code == S.TOO_FEW_FUNCTIONS
    assert not S.frozen_by(FIRST) and not S.frozen_by([*FIRST, S.Approval(1, DIRECTION)])
    assert S.frozen_by([*FIRST, S.Approval(2, DIRECTION)])


# --- a perimeter, and dossiers rendered without WeasyPrint ----------------------------------------------------------


@pytest.fixture
def tiny(app, users):
    """A perimeter on the four-item referential with a control and an evidence file still in draft. The admin
    is the second approver (one manager in the fixtures): ADMIN_APPROVES, the small team's setting."""
    app.config["TODAY"] = DAY
    app.config["ADMIN_APPROVES"] = True
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        manager, contributor, control = tiny.manager, tiny.contributor, tiny.control
        perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="other", name="Autre", service_types=("IaaS",), framework_key="tiny-1.0"))
        evidence_items.create_evidence(session, contributor, evidence_items.EvidenceData(
            title="Export EDR", kind="report", valid_until=date(2027, 1, 1), control_ids=[control.id]),
            store=storage.get_store(app), upload=io.BytesIO(b"edr export"), filename="edr.csv")
    return app


@pytest.fixture
def fake_pdf(monkeypatch):
    """render_pdf without layout: a distinct little "PDF" per call; the signoff each call was given is kept."""
    calls = []

    def render(snapshot, lang="fr", store=None, attach=False, refused=None, workers=None, progress=None, *,
               settings, signoff=None):
        calls.append(signoff)
        if signoff and signoff.get("fail"):
            raise RuntimeError("layout exploded")
        final = bool(signoff and signoff["final"])
        return RenderResult(tiny_pdf(json.dumps([snapshot["number"], final, len(calls)])), None)

    monkeypatch.setattr(life, "render_pdf", render)
    return calls


def tiny_pdf(title: str) -> bytes:
    """A one-page PDF whose title tells the versions apart (a real PDF: pyHanko signs it)."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": title, "/Producer": "test"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def title_of(pdf: bytes) -> list:
    return json.loads(PdfReader(io.BytesIO(pdf)).metadata.title)


def make_version(app, render=True) -> int:
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        item = life.queue(session, "cli:test", perimeter, "fr", False, "", DAY, organisation="")
        if render:
            life.render_stored(session, storage.get_store(app), item, settings=context.dossier_settings())
        return item.id


def approve(app, email, dossier_id, function):
    with app.app_context(), db.session_scope(app) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        item = session.get(Dossier, dossier_id)
        dossier_signoff.approve(session, user, item, function, functions=FUNCTIONS,
                                admin_approves=app.config["ADMIN_APPROVES"])
        return item.status, item.approved_at


def refusal(app, email, dossier_id, function) -> str:
    with pytest.raises(EvidenceError) as refused:
        approve(app, email, dossier_id, function)
    return str(refused.value)


def row(app, dossier_id) -> Dossier:
    with app.app_context(), db.session_scope(app) as session:
        return session.get(Dossier, dossier_id)


def approve_evidence(app, users):
    with app.app_context(), db.session_scope(app) as session:
        evidence = evidence_items.get_evidence(session, "EV-0001")
        evidence_items.review(session, session.get(User, users["contributor"].id), evidence, "submit")
        evidence_items.review(session, session.get(User, users["manager"].id), evidence, "approve")


# --- the service -------------------------------------------------------------------------------------------------


def test_a_rendered_version_is_a_draft_with_its_manifest_hash(tiny, fake_pdf):
    item = row(tiny, make_version(tiny))
    assert item.status == "draft" and item.approved_at is None
    assert item.draft_sha256 == item.sha256 and item.draft_storage_key == item.storage_key
    assert item.manifest_sha256 and len(item.manifest_sha256) == 64
    assert fake_pdf == [{"final": False, "approvals": [], "manifest_sha256": item.manifest_sha256}]
    with tiny.app_context(), db.session_scope(tiny) as session:
        queued = session.exec(select(AuditEvent).where(AuditEvent.action == "dossier.queue")).one()
    assert queued.details["manifest_sha256"] == item.manifest_sha256 and queued.details["marking"] == ""


def test_two_distinct_people_in_two_functions_freeze_a_version(tiny, users, fake_pdf):
    app = tiny
    dossier_id = make_version(app)
    assert approve(app, "manager@example.org", dossier_id, RSSI) == ("draft", None)
    assert "manager" in refusal(app, "manager@example.org", dossier_id, DIRECTION).lower()  # the same person twice
    assert "RSSI" in refusal(app, "admin@example.org", dossier_id, RSSI)  # the same function twice
    assert "iaas-t-v1" in refusal(app, "contributor@example.org", dossier_id, DIRECTION)
    assert "Auditor n’en fait pas partie" in refusal(app, "auditor@example.org", dossier_id, DIRECTION)
    status, approved_at = approve(app, "admin@example.org", dossier_id, DIRECTION)
    assert status == "rendering" and approved_at is not None
    assert "déjà approuvée" in refusal(app, "auditor@example.org", dossier_id, DIRECTION)
    with app.app_context(), db.session_scope(app) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action.in_(("dossier.approve", "dossier.freeze")))
                              .order_by(AuditEvent.seq)).all()
        item = session.get(Dossier, dossier_id)
        assert [(e.action, e.actor, e.details.get("function")) for e in events] == [
            ("dossier.approve", "manager@example.org", RSSI), ("dossier.approve", "admin@example.org", DIRECTION),
            ("dossier.freeze", "admin@example.org", None)]
        assert events[-1].details["manifest_sha256"] == item.manifest_sha256 and events[-1].details["version"] == 1
        draft_sha = item.sha256
        # The boundary starts the final render (a job); here it runs at once.
        life.render_stored(session, storage.get_store(app), item, settings=context.dossier_settings())
        assert item.status == "approved" and item.draft_sha256 == draft_sha and item.sha256 != draft_sha
        assert len(session.exec(select(DossierApproval)).all()) == 2
    final = fake_pdf[-1]
    assert final["final"] is True and [a["function"] for a in final["approvals"]] == [RSSI, DIRECTION]
    assert [a["name"] for a in final["approvals"]] == ["Manager", "Admin"]
    assert "déjà approuvée" in refusal(app, "manager@example.org", dossier_id, DIRECTION)


def test_queued_and_failed_versions_are_not_approved_and_a_failure_renders_again(tiny, users, fake_pdf, monkeypatch):
    app = tiny
    queued = make_version(app, render=False)
    assert "(état : en attente)" in refusal(app, "manager@example.org", queued, RSSI)
    failing = make_version(app)
    approve(app, "manager@example.org", failing, RSSI)
    approve(app, "admin@example.org", failing, DIRECTION)
    monkeypatch.setattr(life, "signoff", lambda session, dossier: {"final": True, "fail": True})
    with app.app_context(), db.session_scope(app) as session, pytest.raises(RuntimeError):
        life.render_stored(session, storage.get_store(app), session.get(Dossier, failing),
                           settings=context.dossier_settings())
    item = row(app, failing)
    assert item.status == "failed" and "layout exploded" in item.error and item.approved_at is not None
    assert "déjà approuvée" in refusal(app, "auditor@example.org", failing, DIRECTION)
    monkeypatch.undo()
    monkeypatch.setattr(life, "render_pdf", lambda *a, **k: RenderResult(tiny_pdf("final again"), None))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["dossier", "render-again", "iaas-t", "2"])
    assert result.exit_code == 0, result.output
    item = row(app, failing)
    assert item.status == "approved" and item.error == "" and item.draft_storage_key != item.storage_key
    with app.app_context(), db.session_scope(app) as session:
        assert len(session.exec(select(DossierApproval).where(DossierApproval.dossier_id == failing)).all()) == 2
    again = runner.invoke(args=["dossier", "render-again", "iaas-t", "2"])
    assert again.exit_code == 1 and "iaas-t-v2 did not fail" in again.output


def test_the_approved_version_has_no_draft_mark(tiny, users):
    """A real render: the draft carries the PROJET mark, the approved one does not (and has its approval page)."""
    app = tiny
    dossier_id = make_version(app)
    approve(app, "manager@example.org", dossier_id, RSSI)
    approve(app, "admin@example.org", dossier_id, DIRECTION)
    with app.app_context(), db.session_scope(app) as session:
        item = session.get(Dossier, dossier_id)
        store = storage.get_store(app)
        life.render_stored(session, store, item, settings=context.dossier_settings())
        draft, final = (pdf_text(store, key) for key in (item.draft_storage_key, item.storage_key))
    assert item.status == "approved"
    assert "PROJET" in draft and "PROJET" not in final
    assert all(word in final for word in ("Approbation", "Manager", "Admin", "Direction", item.manifest_sha256[:16]))


def pdf_text(store, key) -> str:
    with store.open(key) as source:
        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(source.read())).pages)


# --- the web ----------------------------------------------------------------------------------------------------


def test_approval_in_the_web_with_its_csrf_token(tiny, users, fake_pdf):
    app = tiny
    dossier_id = make_version(app)
    manager, admin, contributor = app.test_client(), app.test_client(), app.test_client()
    login(manager, "manager@example.org")
    login(admin, "admin@example.org")
    login(contributor, "contributor@example.org")
    page = contributor.get(f"/dossiers/{dossier_id}").get_data(as_text=True)
    assert "Approuver cette version" not in page
    assert contributor.post(f"/dossiers/{dossier_id}/approve", data={
        "csrf_token": csrf_token(contributor, f"/dossiers/{dossier_id}"), "function": DIRECTION}).status_code == 403
    page = manager.get(f"/dossiers/{dossier_id}").get_data(as_text=True)
    assert "Approuver cette version" in page and "Projet" in page
    assert manager.post(f"/dossiers/{dossier_id}/approve", data={"function": RSSI}).status_code == 400  # no token
    token = csrf_token(manager, f"/dossiers/{dossier_id}")
    response = manager.post(f"/dossiers/{dossier_id}/approve", data={"csrf_token": token, "function": RSSI})
    assert response.status_code == 302
    page = manager.get(f"/dossiers/{dossier_id}").get_data(as_text=True)
    assert "Approuver cette version" not in page and "Manager" in page  # approved once: nothing more to offer
    page = admin.get(f"/dossiers/{dossier_id}").get_data(as_text=True)
    assert "Approuver cette version" in page and f'value="{RSSI}"' not in page  # only the function still open
    token = csrf_token(admin, f"/dossiers/{dossier_id}")
    admin.post(f"/dossiers/{dossier_id}/approve", data={"csrf_token": token, "function": DIRECTION})
    item = row(app, dossier_id)  # the final render job ran at once (JOBS_IMMEDIATE)
    assert item.status == "approved" and item.approved_at is not None and fake_pdf[-1]["final"] is True
    page = admin.get(f"/dossiers/{dossier_id}").get_data(as_text=True)
    assert "Approuvée" in page and "?pdf=draft" in page and "?pdf=approved" in page
    default = admin.get(f"/dossiers/{dossier_id}/download")
    draft = admin.get(f"/dossiers/{dossier_id}/download?pdf=draft")
    assert title_of(default.data) == [1, True, 2] and title_of(draft.data) == [1, False, 1]
    assert "-projet.pdf" in draft.headers["Content-Disposition"]
    assert admin.get(f"/dossiers/{dossier_id}/download?pdf=signed").status_code == 404
    assert "✓" in admin.get("/dossiers/").get_data(as_text=True)


# --- history and comparison ----------------------------------------------------------------------------------------


def two_versions(app, users) -> tuple[int, int]:
    """Version 1 with the evidence still in draft; version 2 after it was approved and the recommendation
    5.1.b declared not applicable."""
    first = make_version(app)
    approve_evidence(app, users)
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        requirement = session.exec(select(Requirement).where(Requirement.ref == "5.1.b")).one()
        perimeters.set_applicability(session, session.get(User, users["manager"].id), perimeter, requirement,
                                     "not_applicable", "Aucune veille n'est utile à ce socle")
    return first, make_version(app)


def test_history_and_changes_between_two_versions(tiny, users, fake_pdf):
    app = tiny
    first, second = two_versions(app, users)
    approve(app, "manager@example.org", first, RSSI)
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        entries = history.entries(session, perimeter)
        assert history.last_snapshot(session, perimeter)["number"] == 2
        assert [e["number"] for e in history.entries(session, perimeter, before=2)] == [1]
    assert [e["number"] for e in entries] == [1, 2] and entries[0]["changes"] is None
    assert entries[0]["author"] == "cli:test" and entries[0]["approvals"][0]["function"] == RSSI
    changes = entries[1]["changes"]
    assert changes["evidence_added"] == ["EV-0001"]
    assert changes["coverage"] == [{"ref": "5.1.b", "from": "not_followed", "to": "not_applicable"}]
    with app.test_request_context():
        from evidence.presentation.changes import describe

        sentences = describe(changes)
        assert any("EV-0001" in s for s in sentences)
        assert "Couverture modifiée pour 1 exigence : 5.1.b (Non suivie → Non applicable)." in sentences
        assert describe(None) == ["Première version du dossier."]
        assert describe(dossier_diff.empty()) == ["Aucun changement depuis la version précédente."]


def test_changes_name_replaced_expired_removed_evidence_findings_and_registers():
    old = {"today": "2026-06-01", "items": [{"ref": "5.1.a", "status": "covered"}],
           "evidence": [{"ref": "EV-1", "version": 1}, {"ref": "EV-2", "version": 1, "valid_until": "2026-06-10"},
                        {"ref": "EV-3", "version": 2}],
           "findings": [{"id": 1, "status": "open", "requirement": "5.1.a"}, {"id": 2, "status": "closed"}],
           "sovereignty": {"sites": [{"city": "Paris", "country": "FR"}]}, "perimeter": {"name": "A"}}
    new = {"today": "2026-06-15", "items": [{"ref": "5.1.a", "status": "covered"}],
           "evidence": [{"ref": "EV-1", "version": 2}],
           "findings": [{"id": 1, "status": "closed", "requirement": "5.1.a"}, {"id": 3, "status": "open"}],
           "sovereignty": {"sites": [{"city": "Paris", "country": "FR", "name": "DC1"}]},  # a new column only
           "perimeter": {"name": "B", "customers": "x"}}
    found = dossier_diff.changes(old, new)
    assert found["evidence_replaced"] == [{"ref": "EV-1", "from": 1, "to": 2}]
    assert found["evidence_expired"] == ["EV-2"] and found["evidence_removed"] == ["EV-3"]
    assert found["findings_opened"] == [{"id": 3, "requirement": None}]
    assert found["findings_closed"] == [{"id": 1, "requirement": "5.1.a"}]
    assert found["registers"] == ["perimeter"] and found["coverage"] == []
    assert dossier_diff.changes(None, new) == dossier_diff.empty()


def test_diff_command_as_a_table_and_as_json(tiny, users, fake_pdf):
    app = tiny
    two_versions(app, users)
    runner = app.test_cli_runner()
    table = runner.invoke(args=["dossier", "diff", "iaas-t", "1", "2"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert any(line.startswith("coverage") and "5.1.b" in line and "not_applicable" in line for line in lines)
    assert any(line.startswith("evidence added") and "EV-0001" in line for line in lines)
    as_json = runner.invoke(args=["dossier", "diff", "iaas-t", "1", "2", "--json"])
    found = json.loads(as_json.output)
    assert found["changes"]["evidence_added"] == ["EV-0001"] and found["changes"]["coverage"][0]["ref"] == "5.1.b"
    missing = runner.invoke(args=["dossier", "diff", "iaas-t", "1", "9"])
    assert missing.exit_code == 1 and "no dossier version 9" in missing.output
    listed = runner.invoke(args=["dossier", "list", "iaas-t"])
    assert listed.exit_code == 0 and "v2" in listed.output and "draft" in listed.output


def test_diff_page_for_two_versions_of_one_perimeter(tiny, users, fake_pdf):
    app = tiny
    first, second = two_versions(app, users)
    with app.app_context(), db.session_scope(app) as session:
        other = life.queue(session, "cli:test", perimeters.get_perimeter(session, "other"), "fr", False, "", DAY,
                           organisation="").id
    auditor = app.test_client()
    login(auditor, "auditor@example.org")
    page = auditor.get(f"/dossiers/{second}").get_data(as_text=True)
    assert f"/dossiers/{first}/diff/{second}" in page
    response = auditor.get(f"/dossiers/{first}/diff/{second}")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "5.1.b" in text and "EV-0001" in text and "Ajoutée" in text
    assert auditor.get(f"/dossiers/{second}/diff/{first}").status_code == 200  # either order, the earlier first
    assert auditor.get(f"/dossiers/{first}/diff/{other}").status_code == 404


# --- the command line ----------------------------------------------------------------------------------------------


def test_approve_on_the_command_line(tiny, users, fake_pdf):
    app = tiny
    make_version(app)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["dossier", "approve", "iaas-t", "1", "--as", "manager@example.org", "--function", "RSSI"])
    assert first.exit_code == 0, first.output
    same = runner.invoke(args=["dossier", "approve", "iaas-t", "1", "--as", "manager@example.org", "--function", "Direction"])
    assert same.exit_code == 1 and "iaas-t-v1" in same.output
    unknown = runner.invoke(args=["dossier", "approve", "iaas-t", "1", "--as", "admin@example.org", "--function", "Stagiaire"])
    assert unknown.exit_code == 1 and "approval functions" in unknown.output
    second = runner.invoke(args=["dossier", "approve", "iaas-t", "1", "--as", "admin@example.org", "--function", "direction"])
    assert second.exit_code == 0, second.output
    assert row(app, 1).status == "approved"
    with app.app_context(), db.session_scope(app) as session:
        origins = [e.details.get("origin") for e in session.exec(select(AuditEvent).where(AuditEvent.action == "dossier.approve"))]
    assert all(o and o.startswith("cli") for o in origins)
    unsigned = runner.invoke(args=["dossier", "sign", "iaas-t", "1"])
    assert unsigned.exit_code == 1 and "no signing certificate" in unsigned.output


def test_bundled_version_is_the_approved_one_and_refuses_a_draft(tiny, users, fake_pdf):
    app = tiny
    first = make_version(app)
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        with refused(EvidenceError, "a draft cannot be bundled as final"):
            life.bundled_version(session, perimeter)
        with refused(EvidenceError, "iaas-t-v1 is a draft"):
            life.bundled_version(session, perimeter, 1)
        assert life.bundled_version(session, perimeter, draft=True).id == first
        with refused(EvidenceError, "no dossier version 7"):
            life.bundled_version(session, perimeter, 7)
    approve(app, "manager@example.org", first, RSSI)
    approve(app, "admin@example.org", first, DIRECTION)
    with app.app_context(), db.session_scope(app) as session:
        life.render_stored(session, storage.get_store(app), session.get(Dossier, first), settings=context.dossier_settings())
    make_version(app)  # a newer draft: the bundle still carries the approved version
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        assert life.bundled_version(session, perimeter).number == 1
        assert life.bundled_version(session, perimeter, draft=True).number == 2


# --- signing -------------------------------------------------------------------------------------------------------


def make_pkcs12(folder: Path):
    """A self-signed certificate and its key in a PKCS#12, made on the fly: (its path, its passphrase file,
    the certificate)."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nuage SAS"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Signature des dossiers")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30))
                   .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
                   .sign(key, hashes.SHA256()))
    path, passphrase = folder / "signing.p12", folder / "signing.pass"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"dossiers", key, certificate, None,
                                                           BestAvailableEncryption(b"secret")))
    passphrase.write_text("secret\n")
    return path, passphrase, certificate


def test_an_approved_version_is_signed_when_a_certificate_is_configured(tiny, users, fake_pdf, tmp_path):
    from evidence.dossier.signing import check_signature

    app = tiny
    dossier_id = make_version(app)
    app.config["DOSSIER_SIGNING_PKCS12"], app.config["DOSSIER_SIGNING_PASSPHRASE_FILE"], root = make_pkcs12(tmp_path)
    runner = app.test_cli_runner()
    approve(app, "manager@example.org", dossier_id, RSSI)
    result = runner.invoke(args=["dossier", "approve", "iaas-t", "1", "--as", "admin@example.org", "--function", "Direction"])
    assert result.exit_code == 0, result.output
    item = row(app, dossier_id)
    assert item.status == "approved" and item.signed_storage_key and "Signature des dossiers" in item.signer
    with app.app_context():
        store = storage.get_store(app)
        with store.open(item.signed_storage_key) as source:
            signed = source.read()
    assert check_signature(signed, trust_roots=[root]).ok and title_of(signed) == [1, True, 2]
    with app.app_context(), db.session_scope(app) as session:
        sign = session.exec(select(AuditEvent).where(AuditEvent.action == "dossier.sign")).one()
    assert sign.details["sha256"] == item.signed_sha256 and sign.details["manifest_sha256"] == item.manifest_sha256
    again = runner.invoke(args=["dossier", "sign", "iaas-t", "1"])
    assert again.exit_code == 1 and "signed already" in again.output
    auditor = app.test_client()
    login(auditor, "auditor@example.org")
    assert auditor.get(f"/dossiers/{dossier_id}/download").data == signed  # the default download: the signed one
    assert "Signée" in auditor.get("/dossiers/").get_data(as_text=True)


def test_the_dossier_command_keeps_its_shape_and_takes_the_marking_setting(tiny, fake_pdf, tmp_path):
    app = tiny
    runner = app.test_cli_runner()
    assert all(word in runner.invoke(args=["dossier", "--help"]).output
               for word in ("approve", "diff", "list", "render", "render-again", "sign"))
    typed = runner.invoke(args=["dossier", "iaas-t", "-o", str(tmp_path / "a.pdf"), "--marking", "C2 – usage interne"])
    assert typed.exit_code == 0, typed.output
    assert "v1 (draft)" in typed.output and (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    app.config["DOSSIER_MARKING"] = "Confidentiel Nuage"
    default = runner.invoke(args=["dossier", "-o", str(tmp_path / "b.pdf"), "iaas-t"])
    assert default.exit_code == 0, default.output
    app.config["DOSSIER_MARKING"] = ""
    assert runner.invoke(args=["dossier", "render", "iaas-t", "-o", str(tmp_path / "c.pdf")]).exit_code == 0
    assert [row(app, n).options["marking"] for n in (1, 2, 3)] == ["C2 – usage interne", "Confidentiel Nuage", ""]
