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
    "6.1.g 6.3.a 6.4.a 8.4.a 10.1.c 10.3.c 10.5.b 11.2.1.b 11.2.2.b 11.6.c 12.6.e 12.9.b 16.4.c 18.2.1.b 19.1.r".split()
)


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


def test_exactly_the_fifteen_recommendations(snc):
    assert {item.ref for item in snc.items if item.kind == "recommandation"} == RECOMMENDATIONS
    assert sum(item.kind == "exigence" for item in snc.items) == 263


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
        assert 2 <= len(item.expected_evidence) <= 5, item.ref


def test_expected_evidence_is_specific(snc):
    seen = Counter(e.casefold() for item in snc.items for e in item.expected_evidence)
    repeated = {e: n for e, n in seen.items() if n > 2}
    assert repeated == {}


def test_chapters_and_sections_have_titles(snc):
    chapters = {s.ref: s for s in snc.sections if s.parent is None}
    assert set(chapters) == set(CHAPTER_COUNTS)
    assert all(s.title and s.title_en for s in snc.sections)


def test_iso_links_point_at_existing_annex_a_controls(snc, iso):
    annex = {item.ref for item in iso.items}
    assert len(annex) == 93
    links = [(item.ref, ref) for item in snc.items for ref in item.links.get("iso27001-2022", [])]
    assert len(links) == 311 and all(ref in annex for _, ref in links)


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
