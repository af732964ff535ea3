"""Coverage (pure): when an item is covered, partly covered or not covered, and what is missing, by tables."""
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence.core import rules

TODAY = date(2026, 6, 15)
ENTRIES = ("12.6.c#1", "12.6.c#2")


def ev(status="approved", valid_until=date(2027, 1, 1), answers=ENTRIES, in_scope=True, ref="EV-1"):
    return rules.EvidenceFacts(status, valid_until, in_scope, tuple(answers), ref)


def ctl(status="implemented", *evidence, statement="Le puits conserve douze mois."):
    return rules.ControlFacts(status, tuple(evidence), statement)


def item(*controls, **kw):
    return rules.ItemFacts(entries=kw.pop("entries", ENTRIES), controls=tuple(controls), **kw)


EXPIRED_DAY = date(2026, 1, 1)


@pytest.mark.parametrize("facts, status, reasons", [
    (rules.ItemFacts(applicable=False), "not_applicable", ()),
    # 1. a control deployed, implemented, with its statement for this item
    (item(), "not_covered", ("no_control", "entry_missing")),
    (item(ctl("retired", ev())), "not_covered", ("no_control", "entry_missing")),  # a retired control proves nothing
    (item(ctl("planned", ev()), ctl("in_progress")), "not_covered", ("control_not_implemented",)),  # its proofs still count
    (item(ctl("implemented", ev(), statement="")), "partly_covered", ("no_statement",)),
    (item(ctl("implemented", ev(), statement="  ")), "partly_covered", ("no_statement",)),
    # 2. every entry answered by approved, unexpired evidence in scope
    (item(ctl("implemented", ev())), "covered", ()),
    (item(ctl("implemented", ev(answers=["12.6.c#1"]))), "partly_covered", ("entry_missing",)),
    (item(ctl("implemented", ev(answers=["12.6.c#1"]), ev(answers=["12.6.c#2"], ref="EV-2"))), "covered", ()),
    (item(ctl("implemented"), direct_evidence=(ev(),)), "covered", ()),
    (item(ctl("implemented", ev(answers=()))), "partly_covered", ("entry_missing",)),  # supports, answers nothing
    (item(ctl("implemented", ev("in_review"))), "partly_covered", ("evidence_not_approved",)),
    (item(ctl("implemented", ev("rejected"))), "partly_covered", ("evidence_not_approved",)),
    (item(ctl("implemented", ev(valid_until=EXPIRED_DAY))), "partly_covered", ("evidence_expired",)),
    (item(ctl("implemented", ev(valid_until=TODAY))), "covered", ()),  # valid through its last day
    (item(ctl("implemented", ev(valid_until=TODAY - timedelta(days=1)))), "partly_covered", ("evidence_expired",)),
    (item(ctl("implemented", ev(valid_until=None))), "covered", ()),
    (item(ctl("implemented", ev(in_scope=False))), "partly_covered", ("entry_missing",)),  # another perimeter's
    (item(ctl("implemented", ev(valid_until=EXPIRED_DAY), ev(ref="EV-2"))), "covered", ()),
    (item(ctl("implemented", ev(answers=["12.6.c#1"])), waived=("12.6.c#2",)), "covered", ()),
    (item(ctl("implemented"), waived=ENTRIES), "covered", ()),
    # an item without a checklist (another framework): one usable proof
    (item(ctl("implemented", ev(answers=())), entries=()), "covered", ()),
    (item(ctl("implemented"), entries=()), "partly_covered", ("evidence_missing",)),
    (item(ctl("implemented", ev("draft", answers=())), entries=()), "partly_covered", ("evidence_not_approved",)),
    # 3. an open major finding, a failed sovereignty check: not covered, whatever the verdict
    (item(ctl("implemented", ev()), open_major_findings=1), "not_covered", ("open_finding",)),
    (item(ctl("implemented", ev()), failed_checks=("Telemetrix (US) …",)), "not_covered", ("sovereignty_check",)),
    (item(verdict="covered", open_major_findings=2), "not_covered", ("no_control", "entry_missing", "open_finding")),
    # the manager's verdict overrides the computation
    (item(verdict="covered"), "covered", ()),
    (item(ctl("implemented", ev()), verdict="partly_covered"), "partly_covered", ()),
])
def test_coverage(facts, status, reasons):
    result = rules.item_status(facts, TODAY)
    assert (result.status, result.reasons) == (status, reasons)


def test_each_entry_says_what_answers_it():
    result = rules.item_status(item(ctl("implemented", ev(answers=["12.6.c#1"]), ev("draft", answers=["12.6.c#2"], ref="EV-2"),
                                        ev(answers=["12.6.c#1"], ref="EV-3"))), TODAY)
    assert [(e.id, e.state, e.proofs) for e in result.entries] == [
        ("12.6.c#1", "answered", ("EV-1", "EV-3")), ("12.6.c#2", "not_approved", ())]
    assert [e.id for e in result.unanswered] == ["12.6.c#2"]


def test_a_verdict_keeps_the_computed_coverage_beside_it():
    result = rules.item_status(item(verdict="covered"), TODAY)
    assert result.status == "covered" and result.computed == "not_covered" and result.is_gap is False


@pytest.mark.parametrize("facts, status", [
    (item(ctl("implemented", ev()), kind="recommandation"), "followed"),
    (item(ctl("implemented"), kind="recommandation"), "not_followed"),
    (item(kind="recommandation"), "not_followed"),
    (item(kind="recommandation", verdict="followed"), "followed"),
    (item(ctl("implemented", ev()), kind="recommandation", open_major_findings=1), "not_followed"),
])
def test_recommendations_are_followed_or_not_and_never_gaps(facts, status):
    result = rules.item_status(facts, TODAY)
    assert result.status == status and result.is_gap is False


def test_readiness_counts_only_applicable_items():
    r = rules.readiness(["covered", "partly_covered", "not_applicable", "covered", "not_covered"])
    assert (r.covered, r.applicable, r.percent) == (2, 4, 50)
    assert rules.readiness([]).percent == 0 and rules.readiness(["not_applicable"]).ratio == 0


answers = st.lists(st.sampled_from(ENTRIES), max_size=2, unique=True).map(tuple)
evidence_facts = st.builds(
    rules.EvidenceFacts, st.sampled_from(["draft", "in_review", "approved", "rejected"]),
    st.one_of(st.none(), st.dates(date(2025, 1, 1), date(2028, 1, 1))), st.booleans(), answers,
)
control_facts = st.builds(
    rules.ControlFacts, st.sampled_from(["planned", "in_progress", "implemented", "retired"]),
    st.lists(evidence_facts, max_size=4).map(tuple), st.sampled_from(["", "statement"]),
)
item_facts = st.builds(
    rules.ItemFacts, applicable=st.booleans(), entries=st.sampled_from([(), ENTRIES]),
    controls=st.lists(control_facts, max_size=3).map(tuple), direct_evidence=st.lists(evidence_facts, max_size=2).map(tuple),
    waived=st.lists(st.sampled_from(ENTRIES), max_size=1).map(tuple),
    verdict=st.one_of(st.none(), st.sampled_from(rules.GAP_STATES + (rules.COVERED,))),
    open_major_findings=st.integers(0, 1),
)
RANK = {"not_applicable": 3, **rules.COVERAGE_ORDER}


@given(item_facts, st.dates(date(2025, 1, 1), date(2028, 1, 1)))
def test_an_approved_answer_to_everything_never_lowers_coverage(facts, today):
    fresh = rules.EvidenceFacts("approved", today + timedelta(days=1), True, ENTRIES, "EV-NEW")
    better = rules.ItemFacts(**{**facts.__dict__, "direct_evidence": facts.direct_evidence + (fresh,)})
    assert RANK[rules.item_status(better, today).status] >= RANK[rules.item_status(facts, today).status]


@given(item_facts, st.dates(date(2025, 1, 1), date(2028, 1, 1)), st.integers(1, 400))
def test_an_expiry_in_the_past_never_raises_coverage(facts, today, days_ago):
    past = today - timedelta(days=days_ago)

    def expire(e):
        return rules.EvidenceFacts(e.status, past, e.in_scope, e.answers, e.ref)

    expired = rules.ItemFacts(**{**facts.__dict__,
                                 "controls": tuple(rules.ControlFacts(c.status, tuple(map(expire, c.evidence)), c.statement)
                                                   for c in facts.controls),
                                 "direct_evidence": tuple(map(expire, facts.direct_evidence))})
    assert RANK[rules.item_status(expired, today).status] <= RANK[rules.item_status(facts, today).status]


@given(item_facts, st.dates(date(2025, 1, 1), date(2028, 1, 1)))
def test_evidence_out_of_scope_never_counts(facts, today):
    def outside(e):
        return rules.EvidenceFacts(e.status, e.valid_until, False, e.answers, e.ref)

    elsewhere = rules.ItemFacts(**{**facts.__dict__,
                                   "controls": tuple(rules.ControlFacts(c.status, tuple(map(outside, c.evidence)), c.statement)
                                                     for c in facts.controls),
                                   "direct_evidence": tuple(map(outside, facts.direct_evidence))})
    assert all(not e.proofs for e in rules.item_status(elsewhere, today).entries)


@given(st.lists(st.sampled_from(["covered", "partly_covered", "not_covered", "not_applicable"]), max_size=50))
def test_readiness_is_a_share(statuses):
    r = rules.readiness(statuses)
    assert 0 <= r.covered <= r.applicable <= len(statuses) and 0 <= r.percent <= 100
