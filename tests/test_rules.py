"""The pure rules, with tables of cases."""
from datetime import date

import pytest

from evidence import rules

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
