"""The rules of the product, as pure functions over plain values: no Flask, no database.

Views, the command line and the dossier call them (`from evidence.core import rules; rules.item_status(...)`);
tests call them directly with tables of cases. One module per question the compliance team asks:
applicability, freshness, evidence_review, status (and readiness), overdue, sovereignty.
"""
from evidence.core.rules.applicability import (
    APPLICABILITY_STATES,
    APPLICABLE,
    INHERITED,
    NOT_APPLICABLE,
    ItemApplicability,
    check_applicability_change,
    derived_applicability,
    effective_applicability,
)
from evidence.core.rules.evidence_review import REVIEW_TRANSITIONS, review_transition
from evidence.core.rules.freshness import EXPIRED, EXPIRING, EXPIRING_DAYS, VALID, freshness
from evidence.core.rules.overdue import action_overdue, finding_overdue, past_due
from evidence.core.rules.sovereignty import (
    COMBINED_LIMIT_BP,
    INDIVIDUAL_LIMIT_BP,
    Check,
    DataPlace,
    Holder,
    OperationPlace,
    SubcontractorFacts,
    check_localisation,
    check_seats,
    check_shareholding,
    check_subcontractors,
    percent,
)
from evidence.core.rules.status import (
    COMPLIANT,
    CONTROL_NOT_IMPLEMENTED,
    EVIDENCE_EXPIRED,
    EVIDENCE_MISSING,
    EVIDENCE_NOT_APPROVED,
    NO_CONTROL,
    NON_COMPLIANT,
    OPEN_FINDING,
    PARTIAL,
    REASONS,
    SOVEREIGNTY_CHECK,
    STATUS_ORDER,
    ControlFacts,
    EvidenceFacts,
    ItemFacts,
    ItemStatus,
    Readiness,
    item_status,
    readiness,
)
from evidence.core.vocabulary import (  # the registers' values, next to the checks that read them
    CUSTOMER_DATA,
    DATA_CATEGORIES,
    OPERATIONS,
    TECHNICAL_DATA,
)

__all__ = [
    "APPLICABILITY_STATES", "APPLICABLE", "INHERITED", "NOT_APPLICABLE", "ItemApplicability",
    "check_applicability_change", "derived_applicability", "effective_applicability",
    "REVIEW_TRANSITIONS", "review_transition",
    "EXPIRED", "EXPIRING", "EXPIRING_DAYS", "VALID", "freshness",
    "action_overdue", "finding_overdue", "past_due",
    "COMBINED_LIMIT_BP", "INDIVIDUAL_LIMIT_BP", "Check", "DataPlace", "Holder", "OperationPlace", "SubcontractorFacts",
    "check_localisation", "check_seats", "check_shareholding", "check_subcontractors", "percent",
    "CUSTOMER_DATA", "DATA_CATEGORIES", "OPERATIONS", "TECHNICAL_DATA",
    "COMPLIANT", "CONTROL_NOT_IMPLEMENTED", "EVIDENCE_EXPIRED", "EVIDENCE_MISSING", "EVIDENCE_NOT_APPROVED",
    "NO_CONTROL", "NON_COMPLIANT", "OPEN_FINDING", "PARTIAL", "REASONS", "SOVEREIGNTY_CHECK", "STATUS_ORDER",
    "ControlFacts", "EvidenceFacts", "ItemFacts", "ItemStatus", "Readiness", "item_status", "readiness",
]
