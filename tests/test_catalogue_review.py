"""The reviewed SecNumCloud catalogue: bilingual, stable checklist ids, reasoned ISO links, the referential's own
conditions, and what a reload does to the data that points at it (answers, exclusions)."""
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from evidence import catalogue
from evidence.core import rules
from evidence.data import database as db
from evidence.data.models import (
    Applicability,
    AuditEvent,
    EvidenceAnswer,
    Framework,
    Requirement,
    RequirementLink,
    User,
)
from evidence.services import perimeters
from evidence.services.evidence import EvidenceData, create_evidence
from evidence.settings import resource_dir

CONTROLS = resource_dir("controls")
SNC = CONTROLS / "secnumcloud-3.2.yaml"
TINY = Path(__file__).parent / "fixtures" / "tiny-catalogue.yaml"
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
LINK = "https://intranet.example/rapport"
CONDITIONAL = {
    "5.3.f", "6.1.f", "6.1.h", "8.3.b", "9.5.d", "9.6.e", "9.6.h", "9.7.d", "10.2.a", "10.2.b", "10.2.c", "10.2.d",
    "10.2.e", "10.4.a", "10.4.b", "11.2.1.g", "11.2.2.g", "12.12.c", "12.13.a", "13.2.c", "13.2.d", "14.5.a", "14.7.b",
    "19.2.e", "19.5.c", "19.6.c",
}


@pytest.fixture(scope="module")
def snc():
    return catalogue.parse_catalogue(SNC)


@pytest.fixture(scope="module")
def by_ref(snc):
    return {item.ref: item for item in snc.items}


def iso_links(item):
    return item.links.get("iso27001-2022", [])


# --- Content -------------------------------------------------------------------------------------------------


def test_every_item_speaks_french_and_english(snc):
    for item in snc.items:
        assert item.title and item.title_en and item.title != item.title_en, item.ref
        assert item.summary and item.summary_en and item.summary != item.summary_en, item.ref
        assert item.expected_evidence, item.ref
        for entry in item.expected_evidence:
            assert entry.text and entry.text_en and entry.text != entry.text_en, entry.id
    assert all(section.title and section.title_en for section in snc.sections)


def test_the_conditional_items_are_the_referentials(snc):
    conditional = {item.ref for item in snc.items if item.condition}
    assert conditional == CONDITIONAL and len(conditional) == 26
    for item in snc.items:
        assert bool(item.condition) == bool(item.condition_en), item.ref
        if item.condition:
            assert item.condition.endswith(".") and item.condition_en.endswith("."), item.ref
            assert item.condition != item.condition_en, item.ref
    assert {item.kind for item in snc.items if item.condition} == {"exigence", "recommandation"}


def test_expected_evidence_ids_are_the_ref_and_a_number_once_each(snc):
    ids = [entry.id for item in snc.items for entry in item.expected_evidence]
    assert len(ids) == len(set(ids))
    for item in snc.items:
        numbers = []
        for entry in item.expected_evidence:
            match = re.fullmatch(re.escape(item.ref) + r"#([1-9][0-9]*)", entry.id)
            assert match, entry.id
            numbers.append(int(match.group(1)))
        assert len(numbers) == len(set(numbers)), item.ref


def test_plain_text_entries_get_the_id_of_their_position(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text("framework: {key: plain, name: Plain}\nsections:\n- {ref: '1', title: Un}\n"
                    "items:\n- {ref: '1.a', title: A, expected_evidence: [Schéma, Procédure]}\n", encoding="utf-8")
    (item,) = catalogue.parse_catalogue(path).items
    assert item.expected_evidence == [catalogue.ExpectedEvidence("1.a#1", "Schéma"),
                                      catalogue.ExpectedEvidence("1.a#2", "Procédure")]


@pytest.mark.parametrize("ref", ["12.6.c", "12.9.a"])
def test_log_retention_entries_say_six_months(by_ref, ref):
    entries = by_ref[ref].expected_evidence
    assert any("six mois" in e.text and "six months" in e.text_en for e in entries), ref
    for entry in entries:
        for text in (entry.text, entry.text_en):
            assert not re.search(r"\b(cinq|5)\s+mois\b|\b(five|5)\s+months?\b", text, re.I), entry.id


def test_every_reviewed_iso_link_says_why_in_both_languages(snc):
    links = [(item.ref, link) for item in snc.items for link in iso_links(item)]
    assert len(links) == 444
    for ref, link in links:
        assert link.rationale and link.rationale_en and link.rationale != link.rationale_en, (ref, link.ref)


def test_the_reviewed_links_corrected_the_librarys(by_ref):
    assert "A.8.24" in {link.ref for link in iso_links(by_ref["10.1.a"])}  # use of cryptography
    for ref, item in by_ref.items():
        if ref.startswith("5.3."):  # risk assessment, not secure development
            assert "A.8.26" not in {link.ref for link in iso_links(item)}, ref
    assert {"A.8.5"} <= {link.ref for link in iso_links(by_ref["9.6.f"])}  # secure authentication
    assert "A.8.21" not in {link.ref for link in iso_links(by_ref["9.6.f"])}


def french_texts(data: dict):
    """(place, text) of every French wording of the catalogue's sections and items."""
    for section in data["sections"]:
        yield f"section {section['ref']} title", section["title"]
    for item in data["items"]:
        ref = item["ref"]
        yield f"{ref} title", item["title"]
        yield f"{ref} summary", item["summary"]
        if item.get("condition"):
            yield f"{ref} condition", item["condition"]["fr"]
        for entry in item["expected_evidence"]:
            yield (f"{ref} entry", entry) if isinstance(entry, str) else (entry["id"], entry["text"])
        for link in item.get("iso27001") or []:
            if isinstance(link, dict):
                yield f"{ref} → {link['ref']} rationale", link.get("rationale", "")


def test_french_texts_use_the_typographic_apostrophe():
    data = yaml.safe_load(SNC.read_text(encoding="utf-8"))
    places = Counter(place for place, _ in french_texts(data))
    assert places["5.1.a title"] == 1 and len(places) > 1000  # the walk reaches every field
    straight = [place for place, text in french_texts(data) if "'" in text]
    assert straight == []
    assert sum("’" in text for _, text in french_texts(data)) > 100


def test_the_framework_citation_uses_the_typographic_apostrophe():
    framework = yaml.safe_load(SNC.read_text(encoding="utf-8"))["framework"]
    assert "'" not in framework["name"] and "'" not in framework["source"]


# --- Reloads -------------------------------------------------------------------------------------------------


def load(app, paths):
    with app.app_context(), db.session_scope(app) as session:
        return catalogue.load_catalogues(session, paths, "cli:test")


def tiny_copy(tmp_path, change=None) -> Path:
    """The tiny catalogue, as a copy that a test may rewrite (`change` edits its parsed YAML in place)."""
    path = tmp_path / "tiny.yaml"
    if change is None:
        shutil.copyfile(TINY, path)
        return path
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    change({item["ref"]: item for item in data["items"]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def requirement(session, ref) -> Requirement:
    return session.exec(select(Requirement).join(Framework, Framework.id == Requirement.framework_id)
                        .where(Framework.key == "tiny-1.0", Requirement.ref == ref)).one()


@pytest.fixture
def tiny(app, users, tmp_path):
    """The tiny referential loaded from a copy, and a perimeter of it; (app, perimeter code)."""
    load(app, [tiny_copy(tmp_path)])
    with app.app_context(), db.session_scope(app) as session:
        manager = session.get(User, users["manager"].id)
        perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="iaas-t", name="Socle", service_types=("IaaS",), framework_key="tiny-1.0"))
    return app


def test_answers_stay_on_their_entry_when_the_checklist_is_reworded(tiny, users, tmp_path):
    with tiny.app_context(), db.session_scope(tiny) as session:
        manager = session.get(User, users["manager"].id)
        item = requirement(session, "5.1.a")
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        evidence = create_evidence(session, manager, EvidenceData(
            title="Compte rendu du comité", kind="link", requirement_ids=[item.id], perimeter_ids=[perimeter.id],
            answers=["5.1.a#2"]), url=LINK)
        item_id, evidence_id = item.id, evidence.id
        before = session.exec(select(EvidenceAnswer.requirement_id, EvidenceAnswer.entry_id)).all()
    assert before == [(item_id, "5.1.a#2")]

    def reword(items):
        entries = items["5.1.a"]["expected_evidence"]
        entries[1]["text"] = "Compte rendu de la revue annuelle par la direction"
        entries[1]["text_en"] = "Minutes of the yearly management review"
        entries.insert(0, {"id": "5.1.a#3", "text": "Note de diffusion", "text_en": "Distribution note"})
    report = load(tiny, [tiny_copy(tmp_path, reword)])[0]
    assert (report.added, report.updated, report.unchanged) == (0, 1, 3)

    with tiny.app_context(), db.session_scope(tiny) as session:
        item = requirement(session, "5.1.a")
        assert item.id == item_id
        assert [e["id"] for e in item.expected_evidence] == ["5.1.a#3", "5.1.a#1", "5.1.a#2"]
        answers = session.exec(select(EvidenceAnswer).where(EvidenceAnswer.evidence_id == evidence_id)).all()
        assert [(a.requirement_id, a.entry_id) for a in answers] == before
        answered = {e["id"]: e for e in item.expected_evidence}[answers[0].entry_id]
        assert answered["text"] == "Compte rendu de la revue annuelle par la direction"
        assert answered["text_en"] == "Minutes of the yearly management review"


def test_a_reload_that_drops_a_condition_restores_the_exclusion(tiny, users, tmp_path):
    def add_condition(items):
        items["12.4.a"]["condition"] = {"fr": "Si le prestataire gère des postes utilisateurs.",
                                        "en": "If the provider manages user workstations."}
    conditional = tiny_copy(tmp_path, add_condition)
    load(tiny, [conditional])
    justification = "Aucun poste utilisateur n’est géré par le prestataire."
    with tiny.app_context(), db.session_scope(tiny) as session:
        manager = session.get(User, users["manager"].id)
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        for ref in ("12.4.a", "5.1.b"):  # a conditional exigence and a recommendation: both may be excluded
            perimeters.set_applicability(session, manager, perimeter, requirement(session, ref),
                                         rules.NOT_APPLICABLE, justification)
    assert load(tiny, [conditional])[0].restored == []  # nothing changes while the condition stands

    report = load(tiny, [tiny_copy(tmp_path)])[0]  # the original: 12.4.a without its condition
    assert report.updated == 1 and report.restored == ["iaas-t 12.4.a"]
    assert "back to applicable" in str(report) and "iaas-t 12.4.a" in str(report)
    with tiny.app_context(), db.session_scope(tiny) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        item = requirement(session, "12.4.a")
        kept = session.exec(select(Applicability).where(Applicability.perimeter_id == perimeter.id)).all()
        assert [(session.get(Requirement, row.requirement_id).ref, row.applicable) for row in kept] == [("5.1.b", False)]
        states = {row.requirement.ref: row.applicability.state
                  for row in perimeters.statement_of_applicability(session, perimeter)}
        assert states["12.4.a"] == rules.APPLICABLE and states["5.1.b"] == rules.NOT_APPLICABLE
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "applicability.restore")).all()
        assert (event.object_type, event.object_id) == ("perimeter", "iaas-t")
        assert event.actor == "cli:test"
        assert event.details["requirement"] == item.ref and event.details["justification"] == justification
        assert (event.details["from"], event.details["to"]) == (rules.NOT_APPLICABLE, rules.APPLICABLE)


# --- CISO Assistant's mapping beside the reviewed links ------------------------------------------------------


def links_to_iso(session):
    """(SecNumCloud ref, ISO ref) -> link, for every link between the two."""
    snc = session.exec(select(Framework).where(Framework.key == "secnumcloud-3.2")).one()
    iso = session.exec(select(Framework).where(Framework.key == "iso27001-2022")).one()
    refs = {r.id: r.ref for r in session.exec(select(Requirement).where(Requirement.framework_id.in_([snc.id, iso.id])))}
    source_ids = select(Requirement.id).where(Requirement.framework_id == snc.id)
    return {(refs[link.source_id], refs[link.target_id]): link
            for link in session.exec(select(RequirementLink).where(RequirementLink.source_id.in_(source_ids)))}


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference/ is not beside the repository")
def test_the_mapping_library_adds_unreviewed_links_beside_the_catalogues(catalogue_loaded):
    app = catalogue_loaded

    def run(path, overlay=None):
        with app.app_context(), db.session_scope(app) as session:
            return catalogue.import_library(session, path, "cli:test", overlay=overlay)
    run(REFERENCE / "secnumcloud-3.2.yaml", overlay="secnumcloud-3.2")  # the sub-bullets' URNs the mapping names
    report = run(REFERENCE / "mapping-secnumcloud-3.2-to-iso27001-2022.yaml")
    assert report.kind == "mapping" and report.unmatched == [] and report.links_added > 0

    with app.app_context(), db.session_scope(app) as session:
        links = links_to_iso(session)
    by_origin = Counter(link.origin for link in links.values())
    assert by_origin == {"catalogue": 444, "library": report.links_added}
    for pair, link in links.items():
        if link.origin == "catalogue":
            assert link.rationale and link.rationale_en, pair
        else:
            assert (link.rationale, link.rationale_en) == ("", ""), pair
    assert links[("10.1.a", "A.8.24")].origin == "catalogue"
    assert links[("9.6.f", "A.8.5")].origin == "catalogue"
    # What the review refused stays visible as the library's, unreviewed: risk assessment is not A.8.26.
    assert links[("5.3.a", "A.8.26")].origin == "library"

    reload = load(app, catalogue.default_catalogue_paths())[1]
    assert (reload.links_added, reload.links_removed) == (0, 0)  # a reload removes no library link
    with app.app_context(), db.session_scope(app) as session:
        after = links_to_iso(session)
    assert {pair: (link.origin, link.rationale, link.rationale_en) for pair, link in after.items()} == {
        pair: (link.origin, link.rationale, link.rationale_en) for pair, link in links.items()}
