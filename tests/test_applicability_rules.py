"""The statement of applicability's rules (pure), with tables of cases."""
import pytest

from evidence.core import rules

UNCONDITIONAL = rules.ItemNature("exigence")
CONDITIONAL = rules.ItemNature("exigence", conditional=True)
RECOMMENDATION = rules.ItemNature("recommandation")


@pytest.mark.parametrize("only_for, built_on, offered, lower, expected", [
    ([], [], ["IaaS"], [], ("applicable", "", ())),
    (["SaaS"], [], ["IaaS"], [], ("not_applicable", "service_type", ("SaaS",))),
    (["SaaS"], [], ["SaaS"], [], ("applicable", "", ())),
    (["SaaS"], [], ["PaaS", "SaaS"], [], ("applicable", "", ())),
    ([], ["IaaS"], ["SaaS"], [], ("not_applicable", "built_on", ("IaaS",))),
    ([], ["IaaS"], ["SaaS"], ["IaaS"], ("applicable", "", ())),
    ([], ["CaaS"], ["SaaS"], ["IaaS"], ("not_applicable", "built_on", ("CaaS",))),
])
def test_derived_applicability_names_its_reason(only_for, built_on, offered, lower, expected):
    result = rules.derived_applicability(only_for, built_on, offered, lower)
    assert (result.state, result.basis, result.limited_to) == expected and result.derived


@pytest.mark.parametrize("state, justification, nature, lower, outcome", [
    # an unconditional exigence: never excluded, whatever the words
    ("not_applicable", "Pas de site physique", UNCONDITIONAL, True, rules.NO_EXCLUSION),
    ("not_applicable", "", UNCONDITIONAL, False, rules.NO_EXCLUSION),
    # a conditional exigence: excluded only with the reason the condition does not hold
    ("not_applicable", "", CONDITIONAL, False, rules.JUSTIFICATION_REQUIRED),
    ("not_applicable", "   ", CONDITIONAL, False, rules.JUSTIFICATION_REQUIRED),
    ("not_applicable", "IPsec n’est employé nulle part", CONDITIONAL, False, rules.CONDITION),
    # a recommendation may be declared not applicable, justified
    ("not_applicable", "", RECOMMENDATION, False, rules.JUSTIFICATION_REQUIRED),
    ("not_applicable", "Sans objet pour un IaaS", RECOMMENDATION, False, rules.RECOMMENDATION),
    # inherited: only from a lower layer, justified
    ("inherited", "Socle iaas-fr1", UNCONDITIONAL, False, rules.NO_LOWER_LAYER),
    ("inherited", "", UNCONDITIONAL, True, rules.JUSTIFICATION_REQUIRED),
    ("inherited", "Socle iaas-fr1", UNCONDITIONAL, True, rules.LOWER_LAYER),
    # back to applicable: always allowed, no words needed
    ("applicable", "", UNCONDITIONAL, False, ""),
    ("maybe", "x", CONDITIONAL, True, rules.UNKNOWN_STATE),
])
def test_decisions(state, justification, nature, lower, outcome):
    if outcome in (rules.NO_EXCLUSION, rules.JUSTIFICATION_REQUIRED, rules.NO_LOWER_LAYER, rules.UNKNOWN_STATE):
        with pytest.raises(rules.ApplicabilityRefused) as refused:
            rules.decision_basis(state, justification, nature, lower)
        assert refused.value.code == outcome
    else:
        assert rules.decision_basis(state, justification, nature, lower) == outcome


@pytest.mark.parametrize("nature, derived_state, allowed", [
    (UNCONDITIONAL, "applicable", False),  # what the migration puts back to applicable
    (UNCONDITIONAL, "not_applicable", True),  # the referential itself excludes it (service type)
    (CONDITIONAL, "applicable", True),
    (RECOMMENDATION, "applicable", True),
])
def test_which_recorded_exclusions_may_stand(nature, derived_state, allowed):
    derived = rules.ItemApplicability(derived_state, derived=True)
    assert rules.exclusion_allowed(nature, derived) is allowed


def test_a_decision_overrides_the_derivation():
    derived = rules.derived_applicability([], [], ["IaaS"], [])
    decided = rules.effective_applicability(derived, ("not_applicable", "IPsec absent", rules.CONDITION))
    assert decided.state == "not_applicable" and not decided.derived and not decided.applicable
    assert decided.basis == rules.CONDITION
    assert rules.effective_applicability(derived, None) is derived
