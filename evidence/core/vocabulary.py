"""The product's words: roles and who may do what, the allowed values of every enumerated field, limits.

Plain tuples, so that the rules, the models (CHECK constraints), the forms and the importer share them.
"""
ROLES = ("admin", "manager", "contributor", "auditor")
LOCALES = ("fr", "en")  # the UI's and the dossier's languages; French is the source
ALL_ROLES = ROLES
# Role groups: a view or a service names the group, never the roles one by one.
COMPLIANCE_ROLES = ("admin", "manager")  # everything compliance: applicability, verdicts, approvals, dossiers
WRITER_ROLES = ("admin", "manager", "contributor")  # may create controls and evidence (a contributor: their own)

REQUIREMENT_KINDS = ("exigence", "recommandation")
SERVICE_TYPES = ("IaaS", "CaaS", "PaaS", "SaaS")
LINK_RELATIONSHIPS = ("equal", "subset", "superset", "intersect")
PERIMETER_PHASES = ("preparation", "request_filed", "under_evaluation", "qualified", "surveillance", "lapsed")
APPLICABILITY_REASONS = ("service_type", "inherited", "manual")
CONTROL_CATEGORIES = ("organisational", "physical", "technical", "procedural")
CONTROL_STATUSES = ("planned", "in_progress", "implemented", "retired")
EVIDENCE_KINDS = ("policy", "procedure", "record", "report", "configuration", "screenshot", "attestation", "link")
EVIDENCE_STATUSES = ("draft", "in_review", "approved", "rejected")
CLASSIFICATIONS = ("public", "internal", "restricted", "confidential")
ACTION_STATUSES = ("open", "in_progress", "done", "cancelled")
OPEN_ACTION_STATUSES = ("open", "in_progress")  # still to do: what an owner sees and what can fall overdue
FINDING_SEVERITIES = ("major", "minor", "observation")
FINDING_STATUSES = ("open", "answered", "closed")
OPEN_FINDING_STATUSES = ("open", "answered")  # not closed by the evaluation centre yet
DOSSIER_STATUSES = ("queued", "rendering", "done", "failed")
VERDICT_STATUSES = ("non_compliant", "partial", "compliant", "not_applicable")

# Sovereignty registers (chapter 19)
SEAT_KINDS = ("registered_office", "central_administration", "principal_establishment")
HOLDER_KINDS = ("direct", "ultimate")
DATA_ACTIVITIES = ("stored", "processed")
CUSTOMER_DATA = "customer_data"
TECHNICAL_DATA = ("identities", "logs", "directory", "certificates", "backups", "network_configuration")
DATA_CATEGORIES = (CUSTOMER_DATA,) + TECHNICAL_DATA
OPERATIONS = ("administration", "supervision", "support_l1", "support_l2", "support_l3")

# Lengths refused (never cut) wherever a person or a file gives them.
MAX_TITLE = 300
MAX_DESCRIPTION = 20_000
MAX_NOTE = 2_000
MAX_URL = 2_000
