"""Loading the catalogue into the database: validation, idempotent upsert, links kept."""

import pytest
import yaml
from sqlalchemy import func
from sqlmodel import select

from evidence import catalogue
from evidence.data import database as db
from evidence.data.models import Control, ControlRequirement, Framework, Requirement, RequirementLink, Section
from evidence.settings import resource_dir
from tests.english import english, refused

CONTROLS = resource_dir("controls")


def count(session, model):
    return session.exec(select(func.count()).select_from(model)).one()


def load(app, paths=None):
    with app.app_context(), db.session_scope(app) as session:
        return catalogue.load_catalogues(session, paths or catalogue.default_catalogue_paths(), "cli:test")


def test_load_then_reload_changes_nothing(app):
    first = load(app)
    # The ISO file: the 93 Annex A controls and the 25 clauses (4 to 10) of ISO/IEC 27001:2022.
    assert [(r.framework, r.added) for r in first] == [("iso27001-2022", 118), ("secnumcloud-3.2", 278)]
    assert first[1].links_added == 444
    with app.app_context(), db.session_scope(app) as session:
        ids = dict(session.exec(select(Requirement.ref, Requirement.id)
                                .join(Framework, Framework.id == Requirement.framework_id)
                                .where(Framework.key == "secnumcloud-3.2")).all())
        totals = (count(session, Requirement), count(session, Section), count(session, RequirementLink))
        assert totals == (396, 127, 444)
        snc = session.exec(select(Framework).where(Framework.key == "secnumcloud-3.2")).one()
        assert snc.assessed and snc.version == "3.2"
        item = session.exec(select(Requirement).where(Requirement.framework_id == snc.id, Requirement.ref == "12.6.c")).one()
        assert [e["id"] for e in item.expected_evidence] == ["12.6.c#1", "12.6.c#2", "12.6.c#3"]
        assert all(set(e) == {"id", "text", "text_en"} and e["text"] and e["text_en"] for e in item.expected_evidence)
        assert item.summary_en and item.title_en
        conditional = session.exec(select(Requirement).where(Requirement.framework_id == snc.id,
                                                             Requirement.ref == "10.2.a")).one()
        assert conditional.condition and conditional.condition_en
    second = load(app)
    assert [(r.added, r.updated, r.unchanged, r.links_added, r.links_removed, r.restored) for r in second] == [
        (0, 0, 118, 0, 0, []), (0, 0, 278, 0, 0, [])
    ]
    with app.app_context(), db.session_scope(app) as session:
        assert dict(session.exec(select(Requirement.ref, Requirement.id)
                                 .join(Framework, Framework.id == Requirement.framework_id)
                                 .where(Framework.key == "secnumcloud-3.2")).all()) == ids
        assert (count(session, Requirement), count(session, Section), count(session, RequirementLink)) == totals


def test_changed_catalogue_updates_in_place_and_keeps_control_links(app, tmp_path):
    load(app)
    with app.app_context(), db.session_scope(app) as session:
        requirement = session.exec(select(Requirement).where(Requirement.ref == "12.4.a")).one()
        control = Control(ref="CTL-AV-01", title="Antivirus")
        session.add(control)
        session.flush()
        session.add(ControlRequirement(control_id=control.id, requirement_id=requirement.id, statement="EDR"))
        session.commit()
        requirement_id = requirement.id

    data = yaml.safe_load((CONTROLS / "secnumcloud-3.2.yaml").read_text(encoding="utf-8"))
    item = next(i for i in data["items"] if i["ref"] == "12.4.a")
    item["title"] = "Titre modifié"
    item["iso27001"] = ["A.8.7", "A.8.16"]
    dropped = data["items"].pop()["ref"]  # the last one, so that no other item's position changes
    changed = tmp_path / "secnumcloud-3.2.yaml"
    changed.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    report = load(app, [CONTROLS / "iso27001-2022-annex-a.yaml", changed])[1]
    assert (report.added, report.updated, report.links_added) == (0, 1, 1)
    assert report.not_in_file == [dropped]
    with app.app_context(), db.session_scope(app) as session:
        requirement = session.get(Requirement, requirement_id)
        assert requirement.title == "Titre modifié"
        assert count(session, ControlRequirement) == 1
        assert session.exec(select(Requirement).where(Requirement.ref == dropped)).first() is not None


def write(tmp_path, text, name="bad.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
framework: {key: demo, name: Demo, assessed: true}
sections:
- {ref: "1", title: Un, title_en: One}
- {ref: "1.1", title: Un un, title_en: One one}
items:
- ref: 1.1.a
  kind: exigence
  title: Titre
  title_en: Title
  summary: Résumé.
  summary_en: Summary.
  expected_evidence:
  - {id: 1.1.a#1, text: Preuve A, text_en: Evidence A}
  - {id: 1.1.a#2, text: Preuve B, text_en: Evidence B}
"""
ENTRIES = """  expected_evidence:
  - {id: 1.1.a#1, text: Preuve A, text_en: Evidence A}
  - {id: 1.1.a#2, text: Preuve B, text_en: Evidence B}
"""


@pytest.mark.parametrize("mutation, message", [
    (lambda t: t + "- {ref: 1.1.a, kind: exigence, title: T, title_en: T, summary: S., summary_en: S.,"
                   " expected_evidence: [A]}\n",
     "bad.yaml: item 1.1.a: duplicate ref"),
    (lambda t: t.replace("kind: exigence", "kind: obligation"), "item 1.1.a: unknown kind 'obligation'"),
    (lambda t: t + "  service_types: [FaaS]\n", "item 1.1.a: unknown service type 'FaaS'"),
    (lambda t: t.replace("  summary: Résumé.\n", ""), "item 1.1.a: missing field 'summary'"),
    (lambda t: t.replace("  summary_en: Summary.\n", ""), "item 1.1.a: missing field 'summary_en'"),
    (lambda t: t.replace('- {ref: "1", title: Un, title_en: One}\n', ""), "section 1.1: orphan section"),
    (lambda t: t.replace("ref: 1.1.a", "ref: 2.1.a"), "item 2.1.a: its section '2.1' is not declared"),
    (lambda t: t.replace('ref: "1.1"', "ref: 1.1"), "field 'ref' must be text (quote it)"),
    (lambda t: t.replace(ENTRIES, "  expected_evidence: Preuve\n"), "field 'expected_evidence' must be a list"),
    (lambda t: t.replace("id: 1.1.a#2", "id: 1.1.b#2"),
     "item 1.1.a: expected_evidence #2: id '1.1.b#2' must be '1.1.a#' followed by a number"),
    (lambda t: t.replace("id: 1.1.a#2", "id: 1.1.a#1"), "item 1.1.a: expected evidence id '1.1.a#1' is used twice"),
    (lambda t: t.replace("text: Preuve B, ", ""), "item 1.1.a: expected_evidence #2: missing field 'text'"),
    (lambda t: t.replace("text_en: Evidence B}", "text_en: Evidence B, note: x}"),
     "item 1.1.a: field 'expected_evidence' must be a list of non-empty texts or of mappings"),
    (lambda t: t + "  condition: Si IPsec est utilisé\n", "item 1.1.a: field 'condition' must be a mapping with 'fr'"),
    (lambda t: t + "  condition: {en: If IPsec is used}\n", "item 1.1.a: field 'condition' must be a mapping with 'fr'"),
    (lambda t: t + "  color: red\n", "item 1.1.a: unknown field(s) color"),
    (lambda t: "framework: [\n", "bad.yaml: not valid YAML (line 2)"),
    (lambda t: "- just\n- a list\n", "bad.yaml: not a catalogue"),
    (lambda t: t.replace("title: Titre", 'title: "Ti\\0tre"'), "bad.yaml: holds a NUL character"),
])
def test_invalid_catalogue_names_file_and_ref_and_changes_nothing(app, tmp_path, mutation, message):
    assert load(app, [write(tmp_path, GOOD, "good.yaml")])[0].added == 1
    bad = write(tmp_path, mutation(GOOD))
    with pytest.raises(catalogue.CatalogueError) as error:
        load(app, [bad])
    assert message in english(error.value) and str(tmp_path) in english(error.value)
    with app.app_context(), db.session_scope(app) as session:
        assert count(session, Requirement) == 1


def test_one_bad_file_among_several_writes_nothing(app, tmp_path):
    bad = write(tmp_path, GOOD.replace("kind: exigence", "kind: x"))
    with pytest.raises(catalogue.CatalogueError):
        load(app, [*catalogue.default_catalogue_paths(), bad])
    with app.app_context(), db.session_scope(app) as session:
        assert count(session, Requirement) == 0 and count(session, Framework) == 0


def test_missing_file(app, tmp_path):
    with refused(catalogue.CatalogueError, "no such file"):
        load(app, [tmp_path / "nope.yaml"])


def test_tree_and_search_are_pure():
    from evidence.data.models import Section as S

    sections = [S(framework_id=1, ref="1", title="Un"), S(framework_id=1, ref="1.1", parent_ref="1", title="Un un"),
                S(framework_id=1, ref="2", title="Deux")]
    items = [Requirement(framework_id=1, ref="1.1.a", chapter="1", section="1.1", title="Sécurité réseau",
                         expected_evidence=[{"id": "1.1.a#1", "text": "Schéma", "text_en": "Network diagram"}]),
             Requirement(framework_id=1, ref="1.1.b", chapter="1", section="1.1", title="Autre")]
    tree = catalogue.build_tree(sections, items)
    assert [n.section.ref for n in tree] == ["1"] and tree[0].count == 2
    assert [r.ref for r in catalogue.search(items, "SECURITE reseau")] == ["1.1.a"]
    assert [r.ref for r in catalogue.search(items, "schema")] == ["1.1.a"]
    assert [r.ref for r in catalogue.search(items, "DIAGRAM")] == ["1.1.a"]  # the English wording is searched too


def test_a_chapter_ref_longer_than_its_column_is_refused(app, tmp_path):
    """A top section is its items' chapter, a 20-character column: PostgreSQL failed on a longer ref."""
    def catalogue_with_chapter(ref):
        return write(tmp_path, "framework: {key: demo, name: Demo}\n"
                               f"sections:\n- {{ref: '{ref}', title: T}}\n- {{ref: '{ref}.1', title: T}}\n"
                               f"items:\n- {{ref: 'x1', parent: '{ref}.1', title: X}}\n")
    with refused(catalogue.CatalogueError, "a chapter's ref is longer than 20 characters"):
        load(app, [catalogue_with_chapter("c" * 21)])
    assert load(app, [catalogue_with_chapter("c" * 20)])[0].added == 1
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(Requirement.chapter)).one() == "c" * 20


def test_links_to_several_frameworks_are_all_counted(app, tmp_path):
    targets = [write(tmp_path, f"framework: {{key: {key}, name: {key}}}\nsections:\n- {{ref: '1', title: T}}\n"
                               "items:\n- {ref: '1.a', title: A}\n- {ref: '1.b', title: B}\n", f"{key}.yaml")
               for key in ("left", "right")]
    source = ("framework: {key: both, name: Both, links: {left: left, right: right}}\n"
              "sections:\n- {ref: '1', title: T}\nitems:\n- {ref: '1.a', title: A, left: ['1.a', '1.b'], right: ['1.a']}\n")
    report = load(app, [*targets, write(tmp_path, source, "both.yaml")])[2]
    assert (report.framework, report.links_added, report.links_removed) == ("both", 3, 0)
    report = load(app, [*targets, write(tmp_path, source.replace("left: ['1.a', '1.b']", "left: ['1.b']"), "both.yaml")])[2]
    assert (report.links_added, report.links_removed) == (0, 1)
