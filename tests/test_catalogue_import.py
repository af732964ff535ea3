"""Importing CISO Assistant libraries: frameworks, official-text overlays and mappings."""
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from evidence import catalogue
from evidence.data import database as db
from evidence.data.models import AuditEvent, Framework, Requirement, RequirementLink, Section
from tests.english import english, refused

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def run_import(app, path, overlay=None):
    with app.app_context(), db.session_scope(app) as session:
        return catalogue.import_library(session, path, "cli:test", overlay=overlay)


@pytest.fixture
def loaded(catalogue_loaded):
    """The product's catalogues, copied from the session's seeded template (loading them costs two seconds)."""
    return catalogue_loaded


def snapshot(app):
    with app.app_context(), db.session_scope(app) as session:
        return (
            session.exec(select(func.count()).select_from(Requirement)).one(),
            session.exec(select(func.count()).select_from(RequirementLink)).one(),
            session.exec(select(func.count()).select_from(Framework)).one(),
            sorted(session.exec(select(Requirement.ref, Requirement.official_text)).all()),
        )


def test_framework_library_becomes_a_framework_and_reimport_is_idempotent(loaded):
    report = run_import(loaded, FIXTURES / "mini-framework.yaml")
    assert (report.kind, report.framework, report.added) == ("framework", "mini-2024", 3)
    with loaded.app_context(), db.session_scope(loaded) as session:
        fw = session.exec(select(Framework).where(Framework.key == "mini-2024")).one()
        assert fw.origin == "library" and not fw.assessed
        rows = {r.ref: r for r in session.exec(select(Requirement).where(Requirement.framework_id == fw.id))}
        assert set(rows) == {"1.a", "node3", "1.b"}
        assert rows["1.a"].official_text == "Une politique existe." and rows["1.a"].chapter == "1"
        assert [s.ref for s in session.exec(select(Section).where(Section.framework_id == fw.id))] == ["1"]
    again = run_import(loaded, FIXTURES / "mini-framework.yaml")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


def test_overlay_sets_official_text_and_keeps_the_summary(loaded, tmp_path):
    library = tmp_path / "overlay.yaml"
    library.write_text(
        (FIXTURES / "mini-framework.yaml").read_text(encoding="utf-8")
        .replace("ref_id: 1.a", "ref_id: 5.2.a").replace("ref_id: 1.b", "ref_id: 5.2.b"),
        encoding="utf-8",
    )
    with loaded.app_context(), db.session_scope(loaded) as session:
        summary = session.exec(select(Requirement.summary).where(Requirement.ref == "5.2.a")).one()
    report = run_import(loaded, library, overlay="secnumcloud-3.2")
    assert (report.kind, report.matched, report.updated, report.folded) == ("overlay", 2, 2, 1)
    with loaded.app_context(), db.session_scope(loaded) as session:
        item = session.exec(select(Requirement).where(Requirement.ref == "5.2.a")).one()
        assert item.official_text == "Une politique existe.\n- elle est approuvée ;"
        assert item.summary == summary
        assert len(item.urns) == 2


def test_mapping_library_links_frameworks_and_reports_unmatched(loaded):
    run_import(loaded, FIXTURES / "mini-framework.yaml")
    report = run_import(loaded, FIXTURES / "mini-mapping.yaml")
    assert (report.kind, report.matched, report.links_added) == ("mapping", 2, 2)
    assert report.unmatched == ["urn:intuitem:risk:req_node:secnumcloud-3.2:99.9.z"]
    assert "1 unmatched" in str(report)
    with loaded.app_context(), db.session_scope(loaded) as session:
        link = session.exec(
            select(RequirementLink).join(Requirement, Requirement.id == RequirementLink.target_id)
            .where(Requirement.ref == "5.2.a")
            .where(RequirementLink.source_id.in_(select(Requirement.id).where(Requirement.ref == "1.a")))
        ).one()
        assert link.relationship == "subset" and link.origin == "library"
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "catalogue.import")).all()
    again = run_import(loaded, FIXTURES / "mini-mapping.yaml")
    assert (again.links_added, again.links_existing) == (0, 2)


@pytest.mark.parametrize("content, overlay, message", [
    ("key: [unclosed\n", None, "not valid YAML"),
    ("just: text\n", None, "not a CISO Assistant library"),
    ("objects: {something: 1}\n", None, "neither a 'framework' nor a 'requirement_mapping_set'"),
    ("objects: {framework: {urn: 'urn:x:framework:y'}}\n", None, "no 'requirement_nodes' list"),
    ("objects: {framework: {urn: 'urn:x:framework:y', requirement_nodes: [{name: a}]}}\n", None, "node #1 has no 'urn'"),
    ("objects: {framework: {urn: 'urn:x:framework:y', requirement_nodes: [{urn: a}]}}\n", "nope", "--overlay nope: no such framework"),
    ('objects: {framework: {urn: "urn:x:framework:\\0", requirement_nodes: [{urn: a}]}}\n', None,
     "holds a NUL character"),
    ("objects: {framework: {urn: 'urn:x:framework:y', requirement_nodes: [{urn: a, name: [x]}]}}\n", None,
     "requirement node #1 (a): field 'name' must be text, got"),
    ("objects: {framework: {urn: 'urn:x:framework:y', requirement_nodes: [{urn: a, ref_id: %s}]}}\n" % ("r" * 51), None,
     "requirement node #1 (a): field 'ref_id' is longer than 50 characters"),
    ("objects: {framework: {urn: 'urn:x:framework:secnumcloud-3.2', requirement_nodes: [{urn: a}]}}\n", None,
     "comes from the product's catalogue"),
    ("objects:\n  requirement_mapping_set:\n    source_framework_urn: urn:x:framework:unknown\n"
     "    target_framework_urn: urn:x:framework:secnumcloud-3.2\n    requirement_mappings: []\n", None,
     "unknown framework 'unknown'"),
    ("objects:\n  requirement_mapping_set:\n    source_framework_urn: urn:x:framework:secnumcloud-3.2\n"
     "    target_framework_urn: urn:x:framework:iso27001-2022\n    requirement_mappings:\n"
     "    - {source_requirement_urn: 'urn:a:secnumcloud-3.2:5.2.a', target_requirement_urn: 'urn:a:iso:a.5.1'}\n"
     "    - {source_requirement_urn: a, target_requirement_urn: b, relationship: cousin}\n", None,
     "mapping #2: unknown relationship 'cousin'"),
])
def test_bad_libraries_get_a_clear_error_and_change_nothing(loaded, tmp_path, content, overlay, message):
    path = tmp_path / "library.yaml"
    path.write_text(content, encoding="utf-8")
    before = snapshot(loaded)
    with pytest.raises(catalogue.CatalogueError) as error:
        run_import(loaded, path, overlay=overlay)
    assert message in english(error.value) and "library.yaml" in english(error.value)
    assert snapshot(loaded) == before


def test_numeric_ref_ids_are_taken_as_text(loaded, tmp_path):
    """CISO Assistant libraries write references bare, which YAML reads as numbers."""
    path = tmp_path / "library.yaml"
    path.write_text("objects:\n  framework:\n    urn: urn:x:framework:bare\n    requirement_nodes:\n"
                    "    - {urn: 'urn:x:req_node:bare:5', ref_id: 5, name: Cinq}\n"
                    "    - {urn: 'urn:x:req_node:bare:5.1', ref_id: 5.1, parent_urn: 'urn:x:req_node:bare:5',"
                    " assessable: true, description: Texte}\n", encoding="utf-8")
    assert run_import(loaded, path).added == 1
    with loaded.app_context(), db.session_scope(loaded) as session:
        framework = session.exec(select(Framework).where(Framework.key == "bare")).one()
        item = session.exec(select(Requirement).where(Requirement.framework_id == framework.id,
                                                      Requirement.ref == "5.1")).one()
        assert item.chapter == "5"
        assert (item.section, item.official_text) == ("5", "Texte")


def test_binary_file_is_refused(loaded, tmp_path):
    path = tmp_path / "library.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with refused(catalogue.CatalogueError, "not UTF-8"):
        run_import(loaded, path)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference/ is not beside the repository")
def test_real_reference_files(loaded):
    overlay = run_import(loaded, REFERENCE / "secnumcloud-3.2.yaml", overlay="secnumcloud-3.2")
    assert overlay.matched == 278 and overlay.updated == 278
    # What stays unmatched are the introduction's descriptive paragraphs (chapters 3 and 4), not items.
    assert all(ref.startswith("node") for ref in overlay.unmatched)
    mapping = run_import(loaded, REFERENCE / "mapping-secnumcloud-3.2-to-iso27001-2022.yaml")
    assert mapping.matched == 455 and mapping.unmatched == []
    # The 455 mappings name sub-bullets too; folded into their items they are 311 links. The catalogue's 444
    # reviewed links hold 215 of them; the other 96 are links the review left out, added as the library's.
    assert (mapping.links_added, mapping.links_existing) == (96, 215)
    with loaded.app_context(), db.session_scope(loaded) as session:
        item = session.exec(select(Requirement).where(Requirement.ref == "5.3.c")).one()
        assert item.official_text.startswith("Le prestataire doit prendre en compte")
        assert item.official_text.count("\n- ") >= 9
    annex = run_import(loaded, REFERENCE / "secnumcloud-3.2-annexe-2.yaml")
    assert annex.kind == "framework" and annex.added > 0
