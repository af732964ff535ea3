"""The pure rules, with tables of cases."""
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence.core import clock, rules

TODAY = date(2026, 6, 15)


@pytest.mark.parametrize("only_for, built_on, offered, lower, expected", [
    ([], [], ["IaaS"], [], ("applicable", "")),
    (["SaaS"], [], ["IaaS"], [], ("not_applicable", "service_type")),
    (["SaaS"], [], ["SaaS"], [], ("applicable", "")),
    (["SaaS"], [], ["PaaS", "SaaS"], [], ("applicable", "")),
    ([], ["IaaS"], ["SaaS"], [], ("not_applicable", "built_on")),
    ([], ["IaaS"], ["SaaS"], ["IaaS"], ("applicable", "")),
    ([], ["CaaS"], ["SaaS"], ["IaaS"], ("not_applicable", "built_on")),
])
def test_derived_applicability(only_for, built_on, offered, lower, expected):
    result = rules.derived_applicability(only_for, built_on, offered, lower)
    assert (result.state, result.justification) == expected and result.derived


def test_a_decision_overrides_the_derivation():
    derived = rules.derived_applicability([], [], ["IaaS"], [])
    decided = rules.effective_applicability(derived, ("not_applicable", "No physical site: hosted by a qualified DC"))
    assert decided.state == "not_applicable" and not decided.derived and not decided.applicable
    assert rules.effective_applicability(derived, None) is derived


@pytest.mark.parametrize("state, justification, ok", [
    ("applicable", "", True), ("not_applicable", "", False), ("not_applicable", "  ", False),
    ("inherited", "", False), ("inherited", "Covered by iaas-fr1", True), ("maybe", "x", False),
])
def test_applicability_changes_need_a_justification(state, justification, ok):
    if ok:
        rules.check_applicability_change(state, justification)
    else:
        with pytest.raises(ValueError):
            rules.check_applicability_change(state, justification)


@pytest.mark.parametrize("valid_until, expected", [
    (None, "valid"), (date(2026, 6, 14), "expired"), (date(2026, 6, 15), "expiring"),
    (date(2026, 7, 15), "expiring"), (date(2026, 7, 16), "valid"),
])
def test_freshness(valid_until, expected):
    assert rules.freshness(valid_until, TODAY) == expected


@pytest.mark.parametrize("action, status, expected", [
    ("submit", "draft", "in_review"), ("submit", "rejected", "in_review"), ("approve", "in_review", "approved"),
    ("reject", "in_review", "rejected"), ("reopen", "approved", "draft"),
    ("approve", "draft", None), ("submit", "approved", None), ("reject", "approved", None), ("fly", "draft", None),
])
def test_review_transitions(action, status, expected):
    if expected is None:
        with pytest.raises(ValueError):
            rules.review_transition(action, status)
    else:
        assert rules.review_transition(action, status) == expected


# --- overdue actions and findings ---------------------------------------------------------------------------


@pytest.mark.parametrize("status, due_date, expected", [
    ("open", date(2026, 6, 14), True), ("in_progress", date(2026, 6, 14), True),
    ("open", TODAY, False),  # due today is still on time
    ("in_progress", date(2026, 6, 16), False), ("open", None, False),
    ("done", date(2026, 6, 1), False), ("cancelled", date(2026, 6, 1), False),
])
def test_action_overdue(status, due_date, expected):
    assert rules.action_overdue(status, due_date, TODAY) is expected


@pytest.mark.parametrize("status, due_date, expected", [
    ("open", date(2026, 6, 14), True), ("answered", date(2026, 6, 14), True),  # answered, not yet closed
    ("closed", date(2026, 6, 1), False), ("open", TODAY, False), ("open", date(2026, 7, 1), False),
    ("answered", None, False),
])
def test_finding_overdue(status, due_date, expected):
    assert rules.finding_overdue(status, due_date, TODAY) is expected


# --- the clock ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("override", [TODAY, date(2000, 1, 1), date(2099, 12, 31)])
def test_the_clock_honours_its_override(override):
    assert clock.today(override) == override


class LateEvening(datetime):
    """23:30 UTC on 14 June 2026, seen from a server clock already on the next day (UTC+2)."""

    @classmethod
    def now(cls, tz=None):
        instant = datetime(2026, 6, 14, 23, 30, tzinfo=timezone.utc)
        if tz is None:
            return instant.astimezone(timezone(timedelta(hours=2))).replace(tzinfo=None)
        return instant.astimezone(tz)


def test_without_override_the_clock_gives_the_utc_date(monkeypatch):
    monkeypatch.setattr(clock, "datetime", LateEvening)
    assert clock.today() == clock.today(None) == date(2026, 6, 14)


def test_the_clock_without_override_is_the_current_date():
    before = datetime.now(timezone.utc).date()
    assert before <= clock.today() <= datetime.now(timezone.utc).date()


# --- status, gaps, readiness -----------------------------------------------------------------------------

OK = rules.EvidenceFacts("approved", date(2027, 1, 1))
EXPIRED = rules.EvidenceFacts("approved", date(2026, 1, 1))
DRAFT = rules.EvidenceFacts("in_review", date(2027, 1, 1))
ENDLESS = rules.EvidenceFacts("approved", None)


def control(status="implemented", *evidence):
    return rules.ControlFacts(status, tuple(evidence))


@pytest.mark.parametrize("facts, expected", [
    (rules.ItemFacts(applicable=False), ("not_applicable", ())),
    (rules.ItemFacts(), ("non_compliant", ("no_control",))),
    (rules.ItemFacts(controls=(control("retired", OK),)), ("non_compliant", ("no_control",))),
    (rules.ItemFacts(controls=(control("planned", OK), control("in_progress"))), ("non_compliant", ("control_not_implemented",))),
    (rules.ItemFacts(controls=(control(),)), ("partial", ("evidence_missing",))),
    (rules.ItemFacts(controls=(control("implemented", DRAFT),)), ("partial", ("evidence_not_approved",))),
    (rules.ItemFacts(controls=(control("implemented", EXPIRED, DRAFT),)), ("partial", ("evidence_expired",))),
    (rules.ItemFacts(controls=(control("implemented", EXPIRED, OK),)), ("compliant", ())),
    (rules.ItemFacts(controls=(control("implemented", ENDLESS),)), ("compliant", ())),
    # Evidence of a control that is not implemented does not count; evidence linked to the item does.
    (rules.ItemFacts(controls=(control("planned", OK), control())), ("partial", ("evidence_missing",))),
    (rules.ItemFacts(controls=(control(),), direct_evidence=(OK,)), ("compliant", ())),
    # A verdict overrides; an open major non-conformity caps, verdict or not.
    (rules.ItemFacts(verdict="compliant"), ("compliant", ())),
    (rules.ItemFacts(controls=(control("implemented", OK),), verdict="partial"), ("partial", ())),
    (rules.ItemFacts(controls=(control("implemented", OK),), open_major_findings=1), ("non_compliant", ("open_finding",))),
    (rules.ItemFacts(verdict="compliant", open_major_findings=2), ("non_compliant", ("no_control", "open_finding"))),
])
def test_item_status(facts, expected):
    result = rules.item_status(facts, TODAY)
    assert (result.status, result.reasons) == expected


def test_overridden_status_keeps_the_computed_one():
    result = rules.item_status(rules.ItemFacts(verdict="compliant"), TODAY)
    assert result.computed == "non_compliant" and not result.is_gap


def test_readiness_counts_only_applicable_items():
    r = rules.readiness(["compliant", "partial", "not_applicable", "compliant", "non_compliant"])
    assert (r.compliant, r.applicable, r.percent) == (2, 4, 50)
    assert rules.readiness([]).percent == 0 and rules.readiness(["not_applicable"]).ratio == 0


evidence_facts = st.builds(
    rules.EvidenceFacts, st.sampled_from(["draft", "in_review", "approved", "rejected"]),
    st.one_of(st.none(), st.dates(date(2025, 1, 1), date(2028, 1, 1))),
)
control_facts = st.builds(
    rules.ControlFacts, st.sampled_from(["planned", "in_progress", "implemented", "retired"]),
    st.lists(evidence_facts, max_size=4).map(tuple),
)
item_facts = st.builds(
    rules.ItemFacts, applicable=st.booleans(), controls=st.lists(control_facts, max_size=3).map(tuple),
    direct_evidence=st.lists(evidence_facts, max_size=2).map(tuple),
    verdict=st.one_of(st.none(), st.sampled_from(["compliant", "partial", "non_compliant"])),
    open_major_findings=st.integers(0, 1),
)
RANK = {"not_applicable": 3, **rules.STATUS_ORDER}


@given(item_facts, st.integers(0, 2), st.dates(date(2025, 1, 1), date(2028, 1, 1)))
def test_approving_valid_evidence_never_lowers_a_status(facts, where, today):
    fresh = rules.EvidenceFacts("approved", today + timedelta(days=1))
    before = rules.item_status(facts, today).status
    if facts.controls and where < len(facts.controls):
        target = facts.controls[where]
        controls = list(facts.controls)
        controls[where] = rules.ControlFacts(target.status, target.evidence + (fresh,))
        after_facts = rules.ItemFacts(facts.applicable, tuple(controls), facts.direct_evidence, facts.verdict, facts.open_major_findings)
    else:
        after_facts = rules.ItemFacts(facts.applicable, facts.controls, facts.direct_evidence + (fresh,), facts.verdict, facts.open_major_findings)
    assert RANK[rules.item_status(after_facts, today).status] >= RANK[before]


@given(item_facts, st.dates(date(2025, 1, 1), date(2028, 1, 1)), st.integers(1, 400))
def test_an_expiry_in_the_past_never_raises_a_status(facts, today, days_ago):
    past = today - timedelta(days=days_ago)

    def expire(e):
        return rules.EvidenceFacts(e.status, past)

    expired = rules.ItemFacts(
        facts.applicable, tuple(rules.ControlFacts(c.status, tuple(map(expire, c.evidence))) for c in facts.controls),
        tuple(map(expire, facts.direct_evidence)), facts.verdict, facts.open_major_findings,
    )
    assert RANK[rules.item_status(expired, today).status] <= RANK[rules.item_status(facts, today).status]


@given(st.lists(st.sampled_from(["compliant", "partial", "non_compliant", "not_applicable"]), max_size=50))
def test_readiness_is_a_share(statuses):
    r = rules.readiness(statuses)
    assert 0 <= r.compliant <= r.applicable <= len(statuses) and 0 <= r.percent <= 100
