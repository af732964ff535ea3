"""Prowler's SecNumCloud 3.2 results as automated evidence: both of its formats read (fixtures made with Prowler's
own code: tests/fixtures/prowler/make_fixtures.py), grouped by requirement, mapped to our catalogue, recorded
idempotently, a newer run adding a version that keeps the approval, muted findings reported, bad files refused
naming the file and the record or line with nothing written, and the demo showing automated evidence."""
import json
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func
from sqlmodel import select

from evidence.collectors import prowler
from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import AuditEvent, CollectionRun, Evidence, EvidenceVersion, Perimeter, User
from evidence.presentation import messages

FIXTURES = Path(__file__).parent / "fixtures" / "prowler"
FIRST = FIXTURES / "prowler-output-0b7c3f2e-20261103T101500Z.ocsf.json"
FIRST_CSV = FIXTURES / "prowler-output-0b7c3f2e-20261103T101500Z_secnumcloud_3.2_azure.csv"
SECOND = FIXTURES / "prowler-output-0b7c3f2e-20261110T101500Z.ocsf.json"
ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 5)


def by_subject(collected):
    return {c.subject: c for c in collected}


# --- reading -----------------------------------------------------------------------------------------------------


def test_the_ocsf_json_is_grouped_by_prowler_requirement():
    grouped = prowler.group(prowler.read(FIRST))
    assert (grouped.report.format, grouped.report.provider, grouped.report.source) == ("ocsf", "azure",
                                                                                        "secnumcloud_3.2_azure")
    items = by_subject(grouped.collected)
    assert sorted(items, key=prowler._requirement_order) == ["9.5", "9.6", "9.7", "10.1", "10.2", "12.6", "13.2", "16.6"]
    tls = items["10.2"]  # storage TLS passes, the web app's fails, a legacy storage account's failure is muted
    assert (tls.result, tls.counts.passed, tls.counts.failed, tls.counts.muted) == ("partly", 1, 1, 1)
    assert [(f.check, f.resource_name, f.muted) for f in tls.failing] == [
        ("app_minimum_tls_version_12", "app-portail-client", False),
        ("storage_ensure_minimum_tls_version_12", "stiaasfr1public", True)]
    assert tls.answers == {"10.2.c": ("10.2.c#1",)} and tls.source == "secnumcloud_3.2_azure"
    assert tls.run_at.isoformat() == "2026-11-03T10:15:00+00:00"
    assert tls.title == "Prowler Azure · SecNumCloud 10.2 Chiffrement des flux"
    assert items["10.1"].result == "passed" and items["10.1"].answers == {"10.1.a": (), "10.1.b": ("10.1.b#3",)}
    # Diagnostic settings count for 10.4, 12.2 and 14.2 too, where the mapping finds nothing Prowler proves.
    assert grouped.left_out == ["10.4", "12.2", "14.2"]


def test_each_group_keeps_its_slice_of_the_report_in_the_same_format():
    tls = by_subject(prowler.group(prowler.read(FIRST)).collected)["10.2"]
    (file,) = tls.files
    records = json.loads(file.read())
    assert file.name == "prowler-secnumcloud_3.2_azure-10.2-20261103T101500Z.ocsf.json"
    assert file.media_type == "application/json"
    original = {r["finding_info"]["uid"]: r for r in json.loads(FIRST.read_text())}
    assert [r["metadata"]["event_code"] for r in records] == [
        "storage_ensure_minimum_tls_version_12", "app_minimum_tls_version_12", "storage_ensure_minimum_tls_version_12"]
    assert all(r == original[r["finding_info"]["uid"]] for r in records)  # the records as Prowler wrote them
    csv_tls = by_subject(prowler.group(prowler.read(FIRST_CSV)).collected)["10.2"]
    lines = csv_tls.files[0].read().decode().splitlines()
    assert lines[0].startswith("PROVIDER;DESCRIPTION;ACCOUNTID") and len(lines) == 4
    assert all(";10.2;" in line for line in lines[1:])


def test_the_compliance_csv_gives_the_same_results_as_the_ocsf_of_the_same_scan():
    from_csv = prowler.group(prowler.read(FIRST_CSV))
    from_json = prowler.group(prowler.read(FIRST))
    assert from_csv.report.format == "csv" and from_csv.report.source == from_json.report.source
    assert {s: (c.result, c.counts, c.run_at, c.answers) for s, c in by_subject(from_csv.collected).items()} == \
        {s: (c.result, c.counts, c.run_at, c.answers) for s, c in by_subject(from_json.collected).items()}
    # The CSV's MANUAL rows (requirements without checks) are no result: a person proves them.
    assert {"5.1", "19.6"} <= set(from_csv.manual) and "10.1" not in from_csv.manual


def test_the_demo_ships_the_first_fixture():
    assert (ROOT / "controls" / "demo" / "prowler-iaas-fr1-azure.ocsf.json").read_bytes() == FIRST.read_bytes()


# --- the mapping ---------------------------------------------------------------------------------------------------


def test_the_mapping_names_only_items_and_entries_of_the_catalogue():
    catalogue = yaml.safe_load((ROOT / "controls" / "secnumcloud-3.2.yaml").read_text(encoding="utf-8"))
    entries = {i["ref"]: {e["id"] for e in i.get("expected_evidence") or []} for i in catalogue["items"]}
    sections = {s["ref"]: s["title"] for s in catalogue["sections"]}
    mapping = prowler.load_mapping()
    assert len(mapping) == 41  # every requirement id under which Prowler 5.46 groups checks, for AWS, Azure, GCP
    for requirement, spec in mapping.items():
        assert spec["title"] == sections[requirement], requirement
        for provider in prowler.PROVIDERS:
            for ref, answered in prowler.answers_for(spec, provider).items():
                assert ref in entries, (requirement, ref)
                assert set(answered) <= entries[ref], (requirement, ref, answered)


@pytest.mark.parametrize("requirement, provider, answers", [
    ("9.5", "aws", {"9.5.a": ("9.5.a#2",)}),  # the IAM password policy's settings
    ("9.5", "azure", {"9.5.a": ()}),  # MFA checks: linked, answering nothing
    ("10.4", "aws", {"12.7.a": ("12.7.a#2",)}),  # CloudTrail log validation: log integrity
    ("10.4", "azure", {}),  # diagnostic settings exist: left out
    ("10.3", "aws", {}),  # password length is not password hashing
    ("12.6", "gcp", {"12.6.b": ("12.6.b#1",)}),
])
def test_the_mapping_answers_per_provider(requirement, provider, answers):
    assert prowler.answers_for(prowler.load_mapping()[requirement], provider) == answers


def test_the_mapping_is_not_taken_for_a_catalogue():
    from evidence.catalogue.format import default_catalogue_paths

    assert all(p.parent.name == "controls" and "prowler" not in p.name for p in default_catalogue_paths())


# --- recording -----------------------------------------------------------------------------------------------------


def make_perimeter(session, manager, code="iaas-p1"):
    from evidence.services import perimeters

    return perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
        code=code, name="Socle P1", service_types=("IaaS",), framework_key="secnumcloud-3.2"))


def record(app, session, path, actor, perimeter, mapping=None):
    from evidence.services import collection

    grouped = prowler.group(prowler.read(path), mapping)
    return collection.record_collected(session, actor, perimeter, "prowler", grouped.report.source,
                                       grouped.collected, store=storage.get_store(app), today=TODAY)


def counts(session):
    return tuple(session.exec(select(func.count()).select_from(model)).one()
                 for model in (Evidence, EvidenceVersion, CollectionRun, AuditEvent))


def test_recording_creates_one_automated_evidence_per_requirement_submitted_for_review(catalogue_loaded, users):
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        perimeter = make_perimeter(session, manager)
        report = record(app, session, FIRST, manager, perimeter)
        assert (report.created, report.refreshed, report.unchanged) == (8, 0, 0)
        line = next(li for li in report.lines if li.subject == "10.2")
        evidence = session.exec(select(Evidence).where(Evidence.ref == line.ref)).one()
        assert (evidence.kind, evidence.status, evidence.collector) == ("automated", "in_review", "prowler")
        assert evidence.collector_key == "prowler:secnumcloud_3.2_azure:10.2:iaas-p1"
        run = session.exec(select(CollectionRun)).all()[[li.subject for li in report.lines].index("10.2")]
        assert (run.subject, run.result, run.passed, run.failed, run.muted, run.ttl_days) == ("10.2", "partly", 1, 1, 1, 7)
        assert [(d["check"], d["muted"]) for d in run.details] == [("app_minimum_tls_version_12", False),
                                                                  ("storage_ensure_minimum_tls_version_12", True)]
        assert [(f.check, f.resource_name) for f in line.muted] == [("storage_ensure_minimum_tls_version_12",
                                                                     "stiaasfr1public")]
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence.collect")).one()
        assert event.object_id == "iaas-p1" and event.details["created"] == 8
        assert event.details["collection_subjects"]["10.2"] == {"evidence": line.ref, "outcome": "created",
                                                                "result": "partly"}


def test_the_same_results_again_change_nothing_whatever_the_format(catalogue_loaded, users):
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        perimeter = make_perimeter(session, manager)
        record(app, session, FIRST, manager, perimeter)
        before = counts(session)
        again = record(app, session, FIRST, manager, perimeter)
        assert (again.created, again.refreshed, again.unchanged) == (0, 0, 8)
        same_scan_as_csv = record(app, session, FIRST_CSV, manager, perimeter)  # the same scan: the same run
        assert same_scan_as_csv.unchanged == 8
        assert counts(session) == before


def test_a_newer_run_adds_a_version_and_keeps_the_approval(catalogue_loaded, users):
    from evidence.services import evidence as evidence_service
    from evidence.services import users as accounts

    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        perimeter = make_perimeter(session, manager)
        first = {li.subject: li.ref for li in record(app, session, FIRST, manager, perimeter).lines}
        reviewer = accounts.create_user(session, None, "second.manager@example.org", "Second", "manager", "x" * 16)
        tls = evidence_service.get_evidence(session, first["10.2"])
        evidence_service.review(session, reviewer, tls, "approve")
        newer = record(app, session, SECOND, manager, perimeter)
        assert (newer.created, newer.refreshed) == (0, 8)
        line = next(li for li in newer.lines if li.subject == "10.2")
        assert (line.ref, line.version, line.result) == (first["10.2"], 2, "passed")  # the web app was fixed
        session.refresh(tls)
        versions = session.exec(select(EvidenceVersion).where(EvidenceVersion.evidence_id == tls.id)
                                .order_by(EvidenceVersion.number)).all()
        assert tls.status == "approved"  # reviewed once; the run's result and age decide from now on
        assert versions[1].approved_by_id == reviewer.id and versions[1].approved_at is not None
        older = record(app, session, FIRST, manager, perimeter)  # the older report imported late
        assert older.unchanged == 8 and all(li.older for li in older.lines)
        other = evidence_service.get_evidence(session, first["10.1"])
        assert other.status == "in_review"  # a run leaves a pending review as it was


@pytest.mark.sqlite_only  # the recording's SQL runs on both databases in the tests above
def test_a_changed_mapping_reopens_the_review(catalogue_loaded, users):
    from evidence.services import evidence as evidence_service
    from evidence.services import users as accounts

    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        perimeter = make_perimeter(session, manager)
        refs = {li.subject: li.ref for li in record(app, session, FIRST, manager, perimeter).lines}
        reviewer = accounts.create_user(session, None, "second.manager@example.org", "Second", "manager", "x" * 16)
        evidence = evidence_service.get_evidence(session, refs["10.1"])
        evidence_service.review(session, reviewer, evidence, "approve")
        mapping = {**prowler.load_mapping(), "10.1": {"title": "Chiffrement", "answers": {"10.1.b": ["10.1.b#1"]}}}
        report = record(app, session, SECOND, manager, perimeter, mapping)
        line = next(li for li in report.lines if li.subject == "10.1")
        session.refresh(evidence)
        assert line.reopened and evidence.status == "draft"
        assert manager.id in evidence.editor_ids  # who changed what it proves may not approve it (four eyes)


@pytest.mark.sqlite_only  # the recording's SQL runs on both databases in the tests above
def test_a_person_adds_no_automated_evidence_by_hand(catalogue_loaded, users):
    from evidence.services import evidence as evidence_service

    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        perimeter = make_perimeter(session, manager)
        with pytest.raises(evidence_service.EvidenceInvalid) as refused:
            evidence_service.create_evidence(session, manager, evidence_service.EvidenceData(
                title="Scan maison", kind="automated", perimeter_ids=[perimeter.id]), url="https://x.example/scan")
        assert refused.value.field == "kind" and "réservé aux collecteurs" in str(refused.value)
        refs = {li.subject: li.ref for li in record(app, session, FIRST, manager, perimeter).lines}
        evidence = evidence_service.get_evidence(session, refs["10.1"])
        data = evidence_service.EvidenceData(title="Chiffrement au repos (Prowler)", kind="automated",
                                             perimeter_ids=[perimeter.id], requirement_ids=[])
        evidence_service.update_evidence(session, manager, evidence, data, evidence.version)  # it keeps its kind
        with pytest.raises(evidence_service.EvidenceInvalid):
            evidence_service.update_evidence(session, manager, evidence, evidence_service.EvidenceData(
                title=evidence.title, kind="report", perimeter_ids=[perimeter.id]), evidence.version)


@pytest.mark.sqlite_only  # the recording's SQL runs on both databases in the tests above
def test_an_auditor_collects_nothing(catalogue_loaded, users):
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        perimeter = make_perimeter(session, session.get(User, users["manager"].id))
        before = counts(session)
        with pytest.raises(PermissionError):
            record(app, session, FIRST, session.get(User, users["auditor"].id), perimeter)
        session.rollback()
        assert counts(session) == before


# --- bad files -------------------------------------------------------------------------------------------------


def ocsf(records) -> bytes:
    return json.dumps(records, indent=2).encode()


FIRST_RECORDS = json.loads(FIRST.read_text())


@pytest.mark.parametrize("name, content, words", [
    ("scan.ocsf.json", b'[\n  {"class_uid": 2004,\n  oops\n]', "scan.ocsf.json, line 3: unreadable JSON"),
    ("scan.ocsf.json", ocsf({"findings": []}), "scan.ocsf.json: a Prowler OCSF JSON is a list of findings"),
    ("scan.ocsf.json", ocsf([FIRST_RECORDS[0], {"class_uid": 3001}]),
     "scan.ocsf.json, finding no. 2: not an OCSF Detection Finding (class_uid 2004)"),
    ("scan.ocsf.json", ocsf([FIRST_RECORDS[0], {**FIRST_RECORDS[1], "status_code": "WARN"}]),
     "scan.ocsf.json, finding no. 2: unknown status “WARN” (PASS, FAIL or MANUAL expected)"),
    ("scan.ocsf.json", ocsf([FIRST_RECORDS[0], {**FIRST_RECORDS[1], "time_dt": "hier", "finding_info": {}}]),
     "scan.ocsf.json, finding no. 2: unreadable date “hier”"),
    ("scan.ocsf.json", ocsf([{**r, "unmapped": {**r["unmapped"], "compliance": {}}} for r in FIRST_RECORDS]),
     "scan.ocsf.json: no SecNumCloud 3.2 result"),
    ("scan.csv", FIRST_CSV.read_bytes().replace(b";PASS;", b";OK;", 1),
     "scan.csv, line 2: unknown status “OK”"),
    ("scan.csv", FIRST_CSV.read_bytes().replace(b"REQUIREMENTS_ID;", b"REQ_ID;", 1),
     "neither a Prowler OCSF JSON"),
    ("scan.csv", FIRST_CSV.read_bytes().replace(b";CHECKID;", b";CHECK;", 1),
     "scan.csv, line 1: missing columns: CHECKID"),
    ("scan.csv", FIRST_CSV.read_bytes() + b"azure;x;y\n", "scan.csv, line 78: 3 columns instead of 21"),
    ("notes.txt", "Résultats du scan".encode(), "notes.txt: neither a Prowler OCSF JSON"),
    ("scan.csv", b"\xff\xfe\x00", "scan.csv: not UTF-8 text"),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_record_or_line(name, content, words):
    with pytest.raises(EvidenceError) as refused:
        prowler.read(Path(name), content, name)
    assert words in messages.render(refused.value, "en")


@pytest.mark.sqlite_only  # the recording's SQL runs on both databases in the tests above
def test_the_command_line_reports_each_requirement_and_writes_nothing_for_a_bad_file(catalogue_loaded, users, tmp_path):
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        make_perimeter(session, session.get(User, users["manager"].id))
    app.config["TODAY"] = date(2026, 11, 20)  # the scan of 3 November has run out (7 days)
    runner = app.test_cli_runner()
    args = ["collect", "prowler", str(FIRST), "--perimeter", "iaas-p1", "--as", users["manager"].email]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "secnumcloud_3.2_azure → perimeter iaas-p1: 8 created, 0 refreshed, 0 unchanged" in result.output
    assert "  10.2: EV-" in result.output and "created; partly failing (1 passed, 1 failed, 1 muted, 0 manual)" in result.output
    assert "    failing: app_minimum_tls_version_12, app-portail-client: Minimum TLS version" in result.output
    assert "    muted (accepted exception): storage_ensure_minimum_tls_version_12, stiaasfr1public" in result.output
    assert "Left out (the mapping finds nothing there that Prowler proves): 10.4, 12.2, 14.2" in result.output
    assert "    run too old: it no longer counts as proof since 2026-11-11" in result.output
    again = runner.invoke(args=args)
    assert "0 created, 0 refreshed, 8 unchanged" in again.output
    bad = tmp_path / "scan.ocsf.json"
    bad.write_bytes(ocsf([FIRST_RECORDS[0], {"class_uid": 3001}]))
    with app.app_context(), db.session_scope(app) as session:
        before = counts(session)
    refused = runner.invoke(args=["collect", "prowler", str(bad), "--perimeter", "iaas-p1", "--as",
                                  users["manager"].email])
    assert refused.exit_code == 1
    assert "scan.ocsf.json, finding no. 2: not an OCSF Detection Finding" in refused.output
    with app.app_context(), db.session_scope(app) as session:
        assert counts(session) == before


# --- the demo ----------------------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # the recording's SQL runs on both databases in the tests above
def test_the_demo_shows_automated_evidence_on_the_mapped_items(demo_loaded):
    from evidence.services import gaps
    from tests.conftest import DEMO_DAY

    with demo_loaded.app_context(), db.session_scope(demo_loaded) as session:
        automated = session.exec(select(Evidence).where(Evidence.kind == "automated")).all()
        assert len(automated) == 8 and {e.status for e in automated} == {"approved"}
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-fr1")).one()
        rows = {r.requirement.ref: r for r in gaps.compute(session, perimeter, DEMO_DAY).rows}
        proofs = [e for e in rows["10.1.b"].evidence if e.kind == "automated"]
        assert proofs and proofs[0].is_proof and proofs[0].run.run_on == date(2026, 6, 14)  # scanned the day before
        state = dict((e.id, e) for e in rows["10.1.b"].status.entries)["10.1.b#3"]
        assert proofs[0].ref in state.proofs
        tls = [e for e in rows["10.2.c"].evidence if e.kind == "automated"]
        assert tls and not tls[0].is_proof and tls[0].run.failed == 1  # the web app's TLS fails in the scan


@pytest.mark.sqlite_only
def test_the_evidence_page_shows_the_run_and_its_failing_resources(catalogue_loaded, users, client, login_as):
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        ref = next(li.ref for li in record(app, session, FIRST, manager, make_perimeter(session, manager)).lines
                   if li.subject == "10.2")
    app.config["TODAY"] = TODAY
    login_as("manager")
    page = client.get(f"/evidence/{ref}").get_data(as_text=True)
    assert "Dernier passage du collecteur" in page and "3 novembre 2026" in page
    assert "1 réussi(s), 1 en échec, 1 en sourdine, 0 manuel(s)" in page
    assert "app-portail-client" in page and "stiaasfr1public" in page
    assert "jusqu’au 10 novembre 2026 inclus" in page
    app.config["TODAY"] = date(2026, 11, 20)
    assert "plus depuis le 10 novembre 2026" in client.get(f"/evidence/{ref}").get_data(as_text=True)
    form = client.get(f"/evidence/{ref}/edit").get_data(as_text=True)
    assert 'value="automated"' in form  # its kind is kept on the edit form, and offered on no other
    assert 'value="automated"' not in client.get("/evidence/new").get_data(as_text=True)


@pytest.mark.sqlite_only  # the recording's SQL runs on both databases in the tests above
def test_no_one_lays_a_file_of_his_own_over_a_collectors_runs(catalogue_loaded, users, client):
    """A version of automated evidence is a collector's run: the service (web form, API) and the importer refuse a
    hand-made one with the same words, and nothing is written."""
    from evidence.services import api_tokens
    from evidence.services import evidence as evidence_service

    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        perimeter = make_perimeter(session, manager)
        ref = record(app, session, FIRST, manager, perimeter).lines[0].ref
        evidence = session.exec(select(Evidence).where(Evidence.ref == ref)).one()
        before = counts(session)
        with pytest.raises(EvidenceError) as refused:
            evidence_service.add_version(session, manager, evidence, url="https://example.org/capture")
        assert refused.value.field == "file"
        expected = f"{ref} is automated evidence: only its collector adds versions (evidence collect)"
        assert messages.render(refused.value, "en") == expected
        secret = api_tokens.create_token(session, None, "pipeline", "manager").secret
        before = counts(session)
    response = client.post(f"/api/v1/evidence/{ref}/versions", json={"url": "https://example.org/capture"},
                           headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"})
    assert response.status_code == 422 and expected in response.get_data(as_text=True)
    with app.app_context(), db.session_scope(app) as session:
        assert counts(session) == before


def test_the_importer_refuses_a_new_version_of_automated_evidence():
    from evidence import importer
    from evidence.importer.plan import ERROR, plan

    known = importer.Known(evidence={"EV-0042": importer.KnownEvidence(42, "EV-0042", "Prowler 10.2", 1, None,
                                                                      kind="automated")})
    row = importer.ManifestRow(2, {"ref": "EV-0042", "url": "https://example.org/capture"})
    entry = importer.Entry(2, None, "https://example.org/capture", known.evidence["EV-0042"], None)
    (outcome,) = plan([(row, entry, [])], known, lambda _f: None)
    assert outcome.action == ERROR
    assert messages.render(outcome.errors[0].message, "en") == (
        "EV-0042 is automated evidence: only its collector adds versions (evidence collect)")
