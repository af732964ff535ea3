"""OSCAL imports: NIST's own catalog format as a framework, the product's catalog export back into a fresh instance,
a mapping collection as requirement links; a bad document is refused naming the JSON path, and nothing is written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlmodel import func, select

from evidence.data import database as db
from evidence.data.models import AuditEvent, Framework, Requirement, RequirementLink, Section

from .conftest import make_app

# SQLite alone: reading documents; the framework they become is loaded by the catalogue loader, tested on both databases.
pytestmark = pytest.mark.sqlite_only

FIXTURES = Path(__file__).parent / "fixtures" / "oscal"
NIST = FIXTURES / "nist-800-53-slice.json"
MAPPING = FIXTURES / "secnumcloud-to-nist-mapping.json"


def requirements(app, key: str) -> list[Requirement]:
    with app.app_context(), db.session_scope(app) as session:
        rows = session.exec(select(Requirement).join(Framework).where(Framework.key == key).order_by(Requirement.order))
        return [r.model_copy() for r in rows]


def test_nist_catalog_imports_as_a_framework(app, runner):
    result = runner.invoke(args=["catalogue", "import-oscal", str(NIST), "--key", "nist-sp-800-53-r5"])
    assert result.exit_code == 0, result.output
    assert "framework nist-sp-800-53-r5: 4 added" in result.output
    items = {r.ref: r for r in requirements(app, "nist-sp-800-53-r5")}
    assert list(items) == ["AC-1", "AC-2", "AC-2(1)", "AC-2(2)"]  # AC-2(10) is withdrawn
    assert items["AC-2(1)"].title == "Automated System Account Management" and items["AC-2(1)"].section == "ac"
    assert items["AC-1"].official_text.splitlines()[:2] == [
        "a. Develop, document, and disseminate to [Assignment: organization-defined personnel or roles]:",
        "  1. [Selection (one or more): Organization-level; Mission/business process-level; System-level] access "
        "control policy that:"]
    assert "[Selection: remove; disable]" in items["AC-2(2)"].official_text
    assert items["AC-2"].urns == ["oscal:ac-2"] and all(r.kind == "exigence" for r in items.values())
    with app.app_context(), db.session_scope(app) as session:
        framework = session.exec(select(Framework).where(Framework.key == "nist-sp-800-53-r5")).one()
        assert (framework.origin, framework.locale, framework.version) == ("library", "en", "5.0.1")
        assert [(s.ref, s.title) for s in session.exec(select(Section).where(Section.framework_id == framework.id))] \
            == [("ac", "Access Control")]
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "catalogue.import")).one()
        assert event.details["kind"] == "oscal-catalog" and event.details["added"] == 4
    again = runner.invoke(args=["catalogue", "import-oscal", str(NIST), "--key", "nist-sp-800-53-r5"])
    assert "0 added, 0 updated, 4 unchanged" in again.output  # re-importing changes nothing


@pytest.mark.sqlite_only  # reading and refusing documents, not SQL
def test_a_yaml_catalog_imports_too_with_a_key_made_from_its_title(app, runner, tmp_path):
    document = tmp_path / "nist.yaml"
    document.write_text(yaml.safe_dump(json.loads(NIST.read_text()), allow_unicode=True), encoding="utf-8")
    result = runner.invoke(args=["catalogue", "import-oscal", str(document)])
    assert result.exit_code == 0, result.output
    assert [r.ref for r in requirements(app, "nist-special-publication-800-53-revision-5-security-and-priv")] \
        == ["AC-1", "AC-2", "AC-2(1)", "AC-2(2)"]


def test_the_catalog_export_imports_into_a_fresh_instance_with_the_same_items(catalogue_loaded, runner, tmp_path):
    exported = tmp_path / "secnumcloud.json"
    assert runner.invoke(args=["export", "oscal", "--model", "catalog", "-o", str(exported)]).exit_code == 0
    fresh = make_app(tmp_path / "fresh", f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        db.migrate(db.get_engine(fresh))
        result = fresh.test_cli_runner().invoke(args=["catalogue", "import-oscal", str(exported)])
        assert result.exit_code == 0, result.output
        assert "framework secnumcloud-3.2: 278 added" in result.output

        def items(app):
            return [(r.ref, r.title, r.kind, r.section, r.chapter, r.summary, r.condition, r.service_types,
                     r.built_on_types, [(e["id"], e["text"]) for e in r.expected_evidence])
                    for r in requirements(app, "secnumcloud-3.2")]

        def sections(app):
            with app.app_context(), db.session_scope(app) as session:
                return [(s.ref, s.parent_ref, s.title) for s in session.exec(
                    select(Section).join(Framework).where(Framework.key == "secnumcloud-3.2").order_by(Section.order))]

        assert items(fresh) == items(catalogue_loaded) and len(items(fresh)) == 278
        assert sections(fresh) == sections(catalogue_loaded)
        # What came back from OSCAL goes out again the same (the ids it had are kept).
        again = tmp_path / "again.json"
        assert fresh.test_cli_runner().invoke(args=["export", "oscal", "--model", "catalog", "-o", str(again)]).exit_code == 0
        assert json.loads(again.read_text())["catalog"]["groups"] == json.loads(exported.read_text())["catalog"]["groups"]
    finally:
        db.get_engine(fresh).dispose()
    # Where the product's own catalogue is loaded, the import is refused rather than overwriting it.
    refused = runner.invoke(args=["catalogue", "import-oscal", str(exported)])
    assert refused.exit_code == 1 and "comes from the product's catalogue" in refused.output


def nist() -> dict:
    return json.loads(NIST.read_text())


def _broken(change) -> dict:
    document = nist()
    change(document)
    return document


BAD = {
    "bad id": (_broken(lambda d: d["catalog"]["groups"][0]["controls"][1].update(id="2-bad")),
               "catalog.groups[0].controls[1].id: '2-bad' is not an OSCAL identifier"),
    "missing title": (_broken(lambda d: d["catalog"]["groups"][0]["controls"][0].pop("title")),
                      "catalog.groups[0].controls[0]: missing field 'title'"),
    "duplicate id": (_broken(lambda d: d["catalog"]["groups"][0]["controls"][1].update(id="ac-1")),
                     "catalog.groups[0].controls[1].id: the id 'ac-1' is already that of catalog.groups[0].controls[0].id"),
    "prop without value": (_broken(lambda d: d["catalog"]["groups"][0]["controls"][1]["controls"][0]["props"][0].pop("value")),
                           "catalog.groups[0].controls[1].controls[0].props[0]: missing field 'value'"),
    "groups not a list": (_broken(lambda d: d["catalog"].update(groups={"id": "ac"})), "catalog.groups: must be a list"),
    "bad uuid": (_broken(lambda d: d["catalog"].update(uuid="613fca2d")), "catalog.uuid: '613fca2d' is not a UUID"),
    "no metadata": (_broken(lambda d: d["catalog"].pop("metadata")), "catalog: missing field 'metadata'"),
    "not OSCAL": ({"system-security-plan": {}}, "neither 'catalog' nor 'mapping-collection' at the top level"),
    "NUL": (_broken(lambda d: d["catalog"]["groups"][0]["controls"][0].update(title="A\x00B")), "holds a NUL character"),
}


@pytest.mark.sqlite_only  # reading and refusing documents, not SQL
@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_document_names_the_json_path_and_writes_nothing(app, runner, tmp_path, case):
    document, expected = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = runner.invoke(args=["catalogue", "import-oscal", str(path), "--key", "nist"])
    assert result.exit_code == 1 and expected in result.output, result.output
    assert "Traceback" not in result.output
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(func.count()).select_from(Framework)).one() == 0
        assert session.exec(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "catalogue.import")).one() == 0


@pytest.mark.sqlite_only  # reading and refusing documents, not SQL
def test_json_that_does_not_parse_names_its_line(app, runner, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"catalog": {\n  "uuid": "x",\n  oops\n}}', encoding="utf-8")
    result = runner.invoke(args=["catalogue", "import-oscal", str(path)])
    assert result.exit_code == 1 and "not valid JSON (line 3, column 3)" in result.output, result.output


def test_a_mapping_collection_imports_as_requirement_links(catalogue_loaded, runner):
    assert runner.invoke(args=["catalogue", "import-oscal", str(NIST), "--key", "nist-sp-800-53-r5"]).exit_code == 0
    result = runner.invoke(args=["catalogue", "import-oscal", str(MAPPING)])
    assert result.exit_code == 0, result.output
    assert "mapping secnumcloud-3.2 -> nist-sp-800-53-r5: 4 mappings matched, 1 unmatched" in result.output
    assert "snc-99.9.z" in result.output and "links: 4 added" in result.output
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        source, target = (Requirement.__table__.alias(n) for n in ("source", "target"))
        links = {(s, t): (rel, origin) for s, t, rel, origin in session.exec(
            select(source.c.ref, target.c.ref, RequirementLink.relationship, RequirementLink.origin)
            .join(source, source.c.id == RequirementLink.source_id).join(target, target.c.id == RequirementLink.target_id)
            .where(target.c.ref.like("AC-%")))}
    assert links == {("9.1.a", "AC-1"): ("intersect", "library"), ("9.1.b", "AC-1"): ("intersect", "library"),
                     ("9.2.a", "AC-2"): ("subset", "library"), ("9.4.a", "AC-2(2)"): ("superset", "library")}
    again = runner.invoke(args=["catalogue", "import-oscal", str(MAPPING)])
    assert "links: 0 added, 4 already present" in again.output


@pytest.mark.sqlite_only  # reading and refusing documents, not SQL
def test_a_mapping_whose_catalog_is_not_loaded_is_refused_naming_the_resource(catalogue_loaded, runner):
    result = runner.invoke(args=["catalogue", "import-oscal", str(MAPPING)])
    assert result.exit_code == 1
    assert "mapping-collection.mappings[0].target-resource.href: no loaded framework matches 'nist-sp-800-53-r5'" \
        in result.output, result.output
