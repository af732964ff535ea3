"""OSCAL exports: every model from the demo validates with compliance-trestle's OSCAL 1.2 models, unchanged data
gives the same bytes and the same UUIDs (on another instance too), and need-to-know holds inside the documents."""
from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
import trestle.oscal
from sqlmodel import select
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.catalog import Catalog
from trestle.oscal.poam import PlanOfActionAndMilestones
from trestle.oscal.ssp import SystemSecurityPlan

from evidence.core import clock
from evidence.data import database as db
from evidence.data.models import Action, Evidence, EvidenceVersion, Perimeter, Requirement, User
from evidence.oscal import OSCAL_VERSION, export, ids
from evidence.services import findings

from .conftest import DEMO_DAY, create_role_users, login, make_app, seed_tiny_perimeter

MODELS = {"catalog": Catalog, "ssp": SystemSecurityPlan, "assessment-results": AssessmentResults,
          "poam": PlanOfActionAndMilestones}
ROOTS = {"catalog": "catalog", "ssp": "system-security-plan", "assessment-results": "assessment-results",
         "poam": "plan-of-action-and-milestones"}
MANAGER = "claire.fontaine@nuage-souverain.example"


def export_cli(runner, folder: Path, model: str, perimeter: str | None = "iaas-fr1", *extra) -> Path:
    out = folder / f"{model}-{len(list(folder.iterdir()))}.json"
    result = runner.invoke(args=["export", "oscal", *([perimeter] if perimeter else []), "--model", model,
                                 "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


def add_findings(app) -> None:
    """The demo has no evaluation centre's findings yet: one on an item, answered by an action, one on the whole
    perimeter, answered by none."""
    with app.app_context(), db.session_scope(app) as session:
        manager = session.exec(select(User).where(User.email == MANAGER)).one()
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-fr1")).one()
        item = session.exec(select(Requirement).where(Requirement.ref == "5.1.a")).one()
        major = findings.create_finding(session, manager, perimeter, findings.FindingData(
            "major", "Les correctifs critiques ne sont pas déployés sous sept jours.", item.id, date(2026, 6, 1),
            date(2026, 7, 1), "Plan de rattrapage engagé."))
        findings.create_finding(session, manager, perimeter, findings.FindingData(
            "observation", "Le registre des sites n’est pas daté.", None, date(2026, 6, 2)))
        action = session.exec(select(Action).where(Action.perimeter_id == perimeter.id).order_by(Action.id)).first()
        findings.save_action(session, manager, perimeter, findings.ActionData(
            title=action.title, description=action.description, owner_id=action.owner_id, due_date=action.due_date,
            status=action.status, residual_risk=action.residual_risk, finding_ids=[major.id]), action)


def uuids(value) -> list[str]:
    """Every UUID a document holds (its own and its objects', and the references to them), in document order."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if (key == "uuid" or key.endswith("-uuid")) and isinstance(item, str):
                found.append(item)
            elif key.endswith("-uuids") and isinstance(item, list):
                found += item
            else:
                found += uuids(item)
    elif isinstance(value, list):
        for item in value:
            found += uuids(item)
    return found


def test_the_namespace_is_the_documented_derivation():
    assert ids.NAMESPACE == uuid.uuid5(uuid.NAMESPACE_URL, "urn:secnumcloud-evidence:oscal")
    assert OSCAL_VERSION == trestle.oscal.OSCAL_VERSION == "1.2.1"
    assert ids.as_token("12.4.a", "secnumcloud-3.2") == "snc-12.4.a" and ids.is_token("snc-12.4.a")
    assert not ids.is_token("12.4.a") and ids.is_token(ids.as_token("A.5(1)", "iso27001-2022"))


def test_every_model_exported_from_the_demo_validates_with_trestle(demo_loaded, runner, tmp_path):
    add_findings(demo_loaded)
    for model, cls in MODELS.items():
        path = export_cli(runner, tmp_path, model, None if model == "catalog" else "iaas-fr1")
        document = cls.oscal_read(path)  # raises, naming the field, on anything OSCAL 1.2 refuses
        assert document.metadata.oscal_version.root.root == trestle.oscal.OSCAL_VERSION, model
    # The saas-collab perimeter is built on iaas-fr1: its plan holds inherited items and the lower layer.
    SystemSecurityPlan.oscal_read(export_cli(runner, tmp_path, "ssp", "saas-collab"))
    AssessmentResults.oscal_read(export_cli(runner, tmp_path, "assessment-results", "saas-collab", "--lang", "en"))


def test_official_json_schemas_do_not_ship_with_trestle():
    """The issue asks for validation against NIST's JSON schemas "if they ship with" compliance-trestle: they do
    not (its models are generated from them, and they are what the test above validates with)."""
    package = Path(trestle.__file__).parent
    schemas = [p for p in package.rglob("*.json") if "oscal" in p.name.lower() and "schema" in p.name.lower()]
    assert schemas == [], "NIST's schemas now ship with trestle: validate the exports against them too"


def test_two_exports_of_unchanged_data_are_byte_identical(demo_loaded, runner, tmp_path, client):
    add_findings(demo_loaded)
    for model in MODELS:
        perimeter = None if model == "catalog" else "iaas-fr1"
        first, second = (export_cli(runner, tmp_path, model, perimeter) for _ in range(2))
        assert first.read_bytes() == second.read_bytes(), model
        assert first.read_bytes().endswith(b"}\n") and "é".encode() in first.read_bytes()  # UTF-8, not \u00e9
    # The web gives a reader who may read everything the very same bytes (same data, same language, same day).
    login(client, MANAGER)
    page = client.get("/perimeters/iaas-fr1/oscal.json?model=ssp&lang=fr")
    assert page.status_code == 200 and page.headers["Content-Disposition"] == 'attachment; filename="iaas-fr1-ssp.json"'
    assert page.data == export_cli(runner, tmp_path, "ssp").read_bytes()


def test_uuids_are_derived_from_the_data_on_any_instance(app, users, tmp_path):
    """Two instances given the same data export the same UUIDs, their own and the documents' (their load times,
    which only the metadata's dates show, differ); a change gives a document a new UUID, not its objects."""
    def documents(instance, people):
        with instance.app_context(), db.session_scope(instance) as session:
            tiny = seed_tiny_perimeter(session, people)
            item = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
            findings.create_finding(session, tiny.manager, tiny.perimeter,
                                    findings.FindingData("minor", "EDR absent d’un poste.", item.id, DEMO_DAY))
            findings.save_action(session, tiny.manager, tiny.perimeter, findings.ActionData(
                title="Déployer l’EDR", owner_id=tiny.contributor.id, due_date=date(2026, 9, 1), requirement_ids=[item.id]))
            return {model: json.loads(export(session, model, perimeter=tiny.perimeter, organisation="Nuage Souverain SAS",
                                             today=DEMO_DAY).data) for model in MODELS}

    here = documents(app, users)
    other = make_app(tmp_path / "other", f"sqlite:///{tmp_path / 'other.db'}")
    try:
        db.migrate(db.get_engine(other))
        with other.app_context(), db.session_scope(other) as session:
            other_users = create_role_users(session)
        there = documents(other, other_users)
    finally:
        db.get_engine(other).dispose()
    for model in MODELS:
        assert uuids(here[model]) == uuids(there[model]), model
        assert len(set(uuids(here[model]))) > (1 if model == "catalog" else 3), model
        assert all(uuid.UUID(u).version == 5 for u in uuids(here[model])), model
    catalogs = [json.dumps(d["catalog"]["groups"], sort_keys=True) for d in (here["catalog"], there["catalog"])]
    assert catalogs[0] == catalogs[1]  # the catalog's ids (groups, controls, parts) are derived from the refs
    with app.app_context(), db.session_scope(app) as session:
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == "iaas-t")).one()
        manager = session.get(User, users["manager"].id)
        findings.create_finding(session, manager, perimeter, findings.FindingData("observation", "Une de plus."))
        changed = json.loads(export(session, "poam", perimeter=perimeter, organisation="Nuage Souverain SAS",
                                    today=DEMO_DAY).data)
    before, after = here["poam"]["plan-of-action-and-milestones"], changed["plan-of-action-and-milestones"]
    assert before["uuid"] != after["uuid"]
    assert [i["uuid"] for i in before["poam-items"]] == [i["uuid"] for i in after["poam-items"]][:len(before["poam-items"])]


def test_last_modified_comes_from_the_data(app, users):
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        action = findings.save_action(session, tiny.manager, tiny.perimeter, findings.ActionData(title="Revoir l’EDR"))
        plan = json.loads(export(session, "poam", perimeter=tiny.perimeter, today=DEMO_DAY).data)
        metadata = plan["plan-of-action-and-milestones"]["metadata"]
        latest = max(action.updated_at, tiny.perimeter.updated_at)
        assert metadata["last-modified"] == latest.isoformat(timespec="seconds").replace("+00:00", "Z")
        catalog = json.loads(export(session, "catalog", framework_key="tiny-1.0", today=DEMO_DAY).data)["catalog"]
        assert catalog["metadata"]["last-modified"] <= metadata["last-modified"]  # loaded before the perimeter
        assert catalog["metadata"]["version"] == "1.0"


@pytest.mark.sqlite_only  # the documents' content: their queries run on both databases in the validation and byte-identity tests
def test_the_catalog_holds_every_item_in_groups_per_chapter_and_section(catalogue_loaded, runner, tmp_path):
    catalog = json.loads(export_cli(runner, tmp_path, "catalog", None).read_text())["catalog"]
    controls, groups = [], []

    def walk(group):
        groups.append(group)
        controls.extend(group.get("controls", []))
        assert not (group.get("controls") and group.get("groups")), group["id"]  # OSCAL: one or the other
        for child in group.get("groups", []):
            walk(child)

    for group in catalog["groups"]:
        walk(group)
    assert len(controls) == 278 and all(ids.is_token(c["id"]) for c in controls)
    by_id = {c["id"]: c for c in controls}
    item = by_id["snc-5.1.a"]
    assert {"name": "label", "value": "5.1.a"} in item["props"]
    assert {"name": "kind", "ns": ids.NS, "value": "exigence"} in item["props"]
    statement = next(p for p in item["parts"] if p["name"] == "statement")
    assert statement["props"] == [{"name": "wording", "ns": ids.NS, "value": "summary"}]
    entries = next(p for p in item["parts"] if p["name"] == "expected-evidence")["parts"]
    assert [e["props"][0]["value"] for e in entries] == ["5.1.a#1", "5.1.a#2", "5.1.a#3"]
    assert sum(1 for c in controls if {"name": "kind", "ns": ids.NS, "value": "recommandation"} in c["props"]) == 17
    assert any(p["name"] == "condition" for p in by_id["snc-10.2.d"]["parts"])
    assert not any(p["name"] == "official-text" for c in controls for p in c["parts"])  # not imported here
    # 11.1 holds items and sub-sections: its own items sit first, in a group that bears its label.
    section = next(g for g in groups if g["id"] == "snc-11.1")
    assert section["groups"][0]["id"] == "snc-11.1_items" and section["groups"][0]["props"][0]["value"] == "11.1"
    assert [c["id"] for c in section["groups"][0]["controls"]] == ["snc-11.1.a", "snc-11.1.b"]


@pytest.mark.sqlite_only  # the documents' content: their queries run on both databases in the validation and byte-identity tests
def test_the_ssp_expresses_applicability_inheritance_and_evidence(demo_loaded, runner, tmp_path):
    plan = json.loads(export_cli(runner, tmp_path, "ssp", "iaas-fr1").read_text())["system-security-plan"]
    requirements = {r["control-id"]: r for r in plan["control-implementation"]["implemented-requirements"]}
    assert len(requirements) == 278
    excluded = requirements["snc-14.7.b"]["by-components"][0]
    assert excluded["implementation-status"]["state"] == "not-applicable"
    assert excluded["implementation-status"]["remarks"].startswith("Aucun test n’emploie de données de production")
    implemented = requirements["snc-5.1.a"]["by-components"]
    assert implemented and all(b["description"] and b["implementation-status"]["state"] in ("implemented", "partial", "planned")
                               for b in implemented)
    resources = {r["uuid"]: r for r in plan["back-matter"]["resources"]}
    cited = [link["href"][1:] for b in implemented for link in b.get("links", [])]
    assert cited and all(u in resources for u in cited)
    with demo_loaded.app_context(), db.session_scope(demo_loaded) as session:
        version = session.exec(select(EvidenceVersion).join(Evidence).where(Evidence.ref == "EV-0001")).first()
        sha256 = version.sha256
    proof = next(r for r in resources.values() if {"name": "evidence-ref", "ns": ids.NS, "value": "EV-0001"} in r.get("props", []))
    assert proof["rlinks"] == [{"href": "/evidence/EV-0001/versions/1/download", "media-type": "application/pdf",
                                "hashes": [{"algorithm": "SHA-256", "value": sha256}]}]
    assert plan["system-characteristics"]["system-ids"] == [{"identifier-type": f"{ids.NS}:perimeter", "id": "iaas-fr1"}]
    upper = json.loads(export_cli(runner, tmp_path, "ssp", "saas-collab").read_text())["system-security-plan"]
    lower = next(c for c in upper["system-implementation"]["components"] if c["type"] == "system")
    assert lower["title"].startswith("iaas-fr1")
    assert "leveraged-authorizations" not in upper["system-implementation"]  # iaas-fr1 is not qualified yet
    inherited = [r for r in upper["control-implementation"]["implemented-requirements"]
                 if {"name": "applicability", "ns": ids.NS, "value": "inherited"} in r["props"]]
    assert inherited and all(r["by-components"][0]["component-uuid"] == lower["uuid"] and r["by-components"][0]["inherited"]
                             for r in inherited)
    # Once the lower layer is qualified, it is a leveraged authorisation too, which its component and items name.
    with demo_loaded.app_context(), db.session_scope(demo_loaded) as session:
        base = session.exec(select(Perimeter).where(Perimeter.code == "iaas-fr1")).one()
        base.phase, base.qualified_on, base.qualification_reference = "qualified", date(2026, 5, 4), "ANSSI-CC-2026/12"
        session.add(base)
        session.commit()
    path = export_cli(runner, tmp_path, "ssp", "saas-collab")
    SystemSecurityPlan.oscal_read(path)
    upper = json.loads(path.read_text())["system-security-plan"]
    [authorisation] = upper["system-implementation"]["leveraged-authorizations"]
    assert authorisation["date-authorized"] == "2026-05-04" and authorisation["title"].startswith("iaas-fr1")
    lower = next(c for c in upper["system-implementation"]["components"] if c["type"] == "system")
    assert {"name": "leveraged-authorization-uuid", "value": authorisation["uuid"]} in lower["props"]
    assert lower["status"] == {"state": "operational"}


@pytest.mark.sqlite_only  # the documents' content: their queries run on both databases in the validation and byte-identity tests
def test_the_results_and_the_plan_carry_coverage_findings_and_owners(demo_loaded, runner, tmp_path):
    add_findings(demo_loaded)
    results = json.loads(export_cli(runner, tmp_path, "assessment-results").read_text())["assessment-results"]["results"][0]
    today = clock.today(demo_loaded.config.get("TODAY"))
    assert results["end"] == f"{today.isoformat()}T00:00:00Z" and results["start"] <= results["end"]
    observation = next(o for o in results["observations"] if o["title"].startswith("5.1.a "))
    assert {"name": "coverage", "ns": ids.NS, "value": "not_covered"} in observation["props"]
    assert {"name": "gap-reason", "ns": ids.NS, "value": "open_finding"} in observation["props"]
    assert "écart majeur ouvert" in observation["description"]
    major = next(f for f in results["findings"] if {"name": "severity", "ns": ids.NS, "value": "major"} in f["props"])
    assert major["target"] == {"type": "statement-id", "target-id": "snc-5.1.a_smt", "title": "5.1.a",
                               "status": {"state": "not-satisfied"}}
    assert major["related-observations"] == [{"observation-uuid": observation["uuid"]}]
    plan = json.loads(export_cli(runner, tmp_path, "poam").read_text())["plan-of-action-and-milestones"]
    assert {f["uuid"] for f in plan["findings"]} == {f["uuid"] for f in results["findings"]}
    answered = next(i for i in plan["poam-items"] if i.get("related-findings") == [{"finding-uuid": major["uuid"]}])
    risk = next(r for r in plan["risks"] if r["uuid"] == answered["related-risks"][0]["risk-uuid"])
    task = risk["remediations"][0]["tasks"][0]
    owner = task["responsible-roles"][0]
    assert owner["role-id"] == "action-owner" and owner["party-uuids"][0] in {p["uuid"] for p in plan["metadata"]["parties"]}
    assert task["timing"]["on-date"]["date"] == risk["deadline"]
    alone = [i for i in plan["poam-items"] if i["title"].startswith("Traiter le constat")]
    assert len(alone) == 1  # the observation no action answers is an item of its own


@pytest.mark.sqlite_only  # the documents' content: their queries run on both databases in the validation and byte-identity tests
def test_need_to_know_holds_in_the_documents(demo_loaded, client, users, login_as):
    """EV-0006 is confidential: an auditor who is not named on it reads neither its title nor its hash."""
    with demo_loaded.app_context(), db.session_scope(demo_loaded) as session:
        evidence = session.exec(select(Evidence).where(Evidence.ref == "EV-0006")).one()
        assert evidence.classification == "confidential"
        title = evidence.title
        sha256 = session.exec(select(EvidenceVersion.sha256).where(EvidenceVersion.evidence_id == evidence.id)).first()
    login_as("auditor")
    for model in ("ssp", "assessment-results"):
        page = client.get(f"/perimeters/iaas-fr1/oscal.json?model={model}")
        assert page.status_code == 200
        assert sha256.encode() not in page.data and title.encode() not in page.data, model
        resource = next(r for r in page.json[next(iter(page.json))]["back-matter"]["resources"]
                        if {"name": "evidence-ref", "ns": ids.NS, "value": "EV-0006"} in r.get("props", []))
        assert resource["title"] == "EV-0006" and "rlinks" not in resource and "description" not in resource
    manager = demo_loaded.test_client()
    login(manager, MANAGER)
    assert sha256.encode() in manager.get("/perimeters/iaas-fr1/oscal.json?model=ssp").data


@pytest.mark.sqlite_only  # the documents' content: their queries run on both databases in the validation and byte-identity tests
def test_downloads_refuse_an_unknown_model_and_serve_every_role(demo_loaded, client, users, login_as):
    login_as("contributor")
    assert client.get("/perimeters/iaas-fr1/oscal.json?model=profile").status_code == 404
    assert client.get("/perimeters/nowhere/oscal.json?model=ssp").status_code == 404
    page = client.get("/perimeters/iaas-fr1/oscal.json?model=catalog")
    assert page.status_code == 200 and page.mimetype == "application/json"
    assert page.json["catalog"]["metadata"]["title"] == "SecNumCloud 3.2"


@pytest.mark.sqlite_only  # the page's links and words
def test_the_perimeter_page_offers_the_four_documents(demo_loaded, client, users, login_as):
    login_as("auditor")
    page = client.get("/perimeters/iaas-fr1").get_data(as_text=True)
    for model in MODELS:
        assert f"/perimeters/iaas-fr1/oscal.json?model={model}" in page
    assert "Échange OSCAL" in page


def test_a_perimeter_model_needs_a_perimeter(catalogue_loaded, runner):
    result = runner.invoke(args=["export", "oscal", "--model", "poam"])
    assert result.exit_code == 1 and "describes a perimeter" in result.output, result.output
    assert runner.invoke(args=["export", "oscal", "--model", "catalog", "--framework", "nope"]).exit_code == 1
    written = runner.invoke(args=["export", "oscal", "--model", "catalog", "--framework", "iso27001-2022"])
    assert written.exit_code == 0 and json.loads(written.output)["catalog"]["metadata"]["title"].startswith("ISO")
