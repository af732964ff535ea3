"""The SecNumCloud 3.2 catalogue as shipped: complete, exact identifiers, and written in the product's own words."""
import re
from collections import Counter
from pathlib import Path

import pytest

from evidence import catalogue
from evidence.settings import resource_dir

CONTROLS = resource_dir("controls")
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
CHAPTER_COUNTS = {"5": 15, "6": 13, "7": 12, "8": 8, "9": 34, "10": 20, "11": 42, "12": 37, "13": 8, "14": 12,
                  "15": 9, "16": 14, "17": 7, "18": 11, "19": 36}
RECOMMENDATIONS = set(
    "6.1.g 6.3.a 6.4.a 8.4.a 10.1.c 10.2.b 10.3.c 10.4.b 10.5.b 11.2.1.b 11.2.2.b 11.6.c 12.6.e 12.9.b 16.4.c "
    "18.2.1.b 19.1.r".split()
)
# Chapter 19 items with no counterpart in ISO/IEC 27001:2022: French-speaking service, EU seat and ownership.
ITEMS_WITHOUT_ISO_LINK = {"19.3.a", "19.3.b", "19.6.a", "19.6.b"}


@pytest.fixture(scope="module")
def snc():
    return catalogue.parse_catalogue(CONTROLS / "secnumcloud-3.2.yaml")


@pytest.fixture(scope="module")
def iso():
    return catalogue.parse_catalogue(CONTROLS / "iso27001-2022-annex-a.yaml")


def test_all_278_items_with_unique_referential_identifiers(snc):
    refs = [item.ref for item in snc.items]
    assert len(refs) == 278 and len(set(refs)) == 278
    assert all(re.fullmatch(r"(5|6|7|8|9|1[0-9])(\.\d+)+\.[a-z]", ref) for ref in refs)
    assert {"5.1.a", "12.4.a", "11.2.2.j", "18.2.1.a", "5.2.d", "19.6.b"} <= set(refs)


def test_counts_per_chapter(snc):
    assert Counter(item.chapter for item in snc.items) == CHAPTER_COUNTS


def test_exactly_the_seventeen_recommendations(snc):
    assert {item.ref for item in snc.items if item.kind == "recommandation"} == RECOMMENDATIONS
    assert sum(item.kind == "exigence" for item in snc.items) == 261


def test_service_type_conditions(snc):
    by_ref = {item.ref: item for item in snc.items}
    assert {r for r, i in by_ref.items() if i.service_types} == {"9.5.c", "9.6.g", "12.2.c"}
    assert by_ref["9.5.c"].service_types == by_ref["9.6.g"].service_types == ["SaaS"]
    assert by_ref["12.2.c"].service_types == ["PaaS"]
    assert {r: i.built_on for r, i in by_ref.items() if i.built_on} == {"9.6.i": ["IaaS"], "9.6.j": ["CaaS"], "9.6.k": ["PaaS"]}


def test_every_item_is_described(snc):
    for item in snc.items:
        assert item.title and len(item.title) <= 90, item.ref
        assert item.title_en and len(item.title_en) <= 90, item.ref
        assert item.summary.endswith("."), item.ref
        assert 1 <= len(re.findall(r"[.!?](\s|$)", item.summary)) <= 3, item.ref
        assert item.summary_en.endswith("."), item.ref
        assert 2 <= len(item.expected_evidence) <= 5, item.ref
        assert all(isinstance(e, catalogue.ExpectedEvidence) and e.text and e.text_en
                   for e in item.expected_evidence), item.ref


@pytest.mark.parametrize("language", ["text", "text_en"])
def test_expected_evidence_is_specific(snc, language):
    seen = Counter(getattr(e, language).casefold() for item in snc.items for e in item.expected_evidence)
    repeated = {e: n for e, n in seen.items() if n > 2}
    assert repeated == {}


def test_chapters_and_sections_have_titles(snc):
    chapters = {s.ref: s for s in snc.sections if s.parent is None}
    assert set(chapters) == set(CHAPTER_COUNTS)
    assert all(s.title and s.title_en for s in snc.sections)


def test_the_iso_file_holds_annex_a_and_the_clauses(iso):
    refs = [item.ref for item in iso.items]
    annex = [ref for ref in refs if ref.startswith("A.")]
    clauses = [ref for ref in refs if not ref.startswith("A.")]
    assert len(refs) == len(set(refs)) == 118
    assert len(annex) == 93 and all(re.fullmatch(r"A\.[5-8]\.\d+", ref) for ref in annex)
    assert Counter(ref.split(".")[1] for ref in annex) == {"5": 37, "6": 8, "7": 14, "8": 34}
    assert len(clauses) == 25 and all(re.fullmatch(r"(4|5|6|7|8|9|10)(\.\d+)+", ref) for ref in clauses)
    assert {"4.1", "6.1.2", "6.1.3", "9.2", "10.2"} <= set(clauses)
    assert all(item.title and item.title_en for item in iso.items)


def test_iso_links_point_at_existing_iso_items(snc, iso):
    known = {item.ref for item in iso.items}
    links = [(item.ref, link.ref) for item in snc.items for link in item.links.get("iso27001-2022", [])]
    assert len(links) == len(set(links)) == 444 and all(ref in known for _, ref in links)
    assert any(not ref.startswith("A.") for _, ref in links)  # the clauses are link targets too
    assert {item.ref for item in snc.items if not item.links.get("iso27001-2022")} == ITEMS_WITHOUT_ISO_LINK


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference/ is not beside the repository")
def test_summaries_do_not_copy_the_official_text(snc):
    import csv

    official = {}
    with open(REFERENCE / "secnumcloud-3.2-nodes.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["ref_id"]:
                official[row["ref_id"]] = (row["description"] or row["name"] or "")

    def shingles(text, n=7):
        words = re.findall(r"\w+", text.lower())
        return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}

    copied = [item.ref for item in snc.items if shingles(item.summary) & shingles(official.get(item.ref, ""))]
    assert copied == []



@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference/ is not beside the repository")
def test_identifiers_match_the_reference(snc):
    import csv

    with open(REFERENCE / "secnumcloud-3.2-nodes.csv", encoding="utf-8") as f:
        refs = {row["ref_id"] for row in csv.DictReader(f)
                if re.fullmatch(r"(5|6|7|8|9|1[0-9])(\.\d+)+\.[a-z]", row["ref_id"] or "")}
    assert refs == {item.ref for item in snc.items}
