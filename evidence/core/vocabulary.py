"""The product's words: roles and who may do what, the allowed values of every enumerated field, limits.

Plain tuples, so that the rules, the models (CHECK constraints), the forms and the importer share them.
"""
ROLES = ("admin", "manager", "contributor", "auditor", "evaluator")
LOCALES = ("fr", "en")  # the UI's and the dossier's languages; French is the source
ALL_ROLES = ROLES
# Role groups: a view or a service names the group, never the roles one by one.
COMPLIANCE_ROLES = ("admin", "manager")  # everything compliance: applicability, verdicts, approvals, dossiers
WRITER_ROLES = ("admin", "manager", "contributor")  # may create controls and evidence (a contributor: their own)
OWNER_ROLES = ("admin", "manager", "contributor")  # may own a control, evidence or an action: an auditor only reads, so owns nothing
TEAM_ROLES = OWNER_ROLES  # the provider's own people: they see every perimeter and answer requests and findings
# Read within the perimeters granted them (evidence.core.rules.token_scope.granted_scope): an internal auditor
# (every perimeter while granted none), an evaluation centre's evaluator (only those granted, until the grant ends).
SCOPED_ROLES = ("auditor", "evaluator")
EVALUATOR = "evaluator"  # sees approved evidence only, asks for evidence, raises and closes findings
# The roles an API token may carry: a pipeline or an evaluator's tool works on evidence, none administers accounts.
API_TOKEN_ROLES = ("contributor", "manager", "auditor", "evaluator")

REQUIREMENT_KINDS = ("exigence", "recommandation")
SERVICE_TYPES = ("IaaS", "CaaS", "PaaS", "SaaS")
LINK_RELATIONSHIPS = ("equal", "subset", "superset", "intersect")
PERIMETER_PHASES = ("preparation", "request_filed", "under_evaluation", "qualified", "surveillance", "lapsed")
# Why a manager decided: inherited from the lower layer, a condition that does not hold, a recommendation
# not applicable ("manual": decisions recorded before conditions existed).
APPLICABILITY_REASONS = ("service_type", "inherited", "manual", "condition", "recommendation")
CONTROL_CATEGORIES = ("organisational", "physical", "technical", "procedural")
CONTROL_STATUSES = ("planned", "in_progress", "implemented", "retired")
EVIDENCE_KINDS = ("policy", "procedure", "record", "report", "configuration", "screenshot", "attestation", "link",
                  "automated")
# Evidence a collector keeps up (a scanner's results): only a collector creates it, never a person.
AUTOMATED_KIND = "automated"
HAND_MADE_KINDS = tuple(k for k in EVIDENCE_KINDS if k != AUTOMATED_KIND)  # what the forms and the importer offer
COLLECTION_RESULTS = ("passed", "failed", "partly")  # a collector's run: every check passed, none, or some
EVIDENCE_STATUSES = ("draft", "in_review", "approved", "rejected")
CLASSIFICATIONS = ("public", "internal", "restricted", "confidential")
# Recurring evidence (a quarterly access review): renewed on this cadence, counted in months by rules.renewal.
RENEWAL_CADENCES = ("monthly", "quarterly", "half_yearly", "yearly")
# What the inbox stores when it happens (the date-driven tasks, expiring, overdue, renewal due, are computed).
NOTIFICATION_KINDS = ("review_requested", "evidence_approved", "evidence_rejected", "finding_raised",
                      "request_raised", "request_answered", "request_reopened", "mentioned", "finding_closed")
DIGEST_CADENCES = ("daily", "weekly", "never")  # how often the e-mail digest goes out (DIGEST_CADENCE)
ACTION_STATUSES = ("open", "in_progress", "done", "cancelled")
# The risk that remains while an action is not done, as the team rates it ("": not rated yet).
RESIDUAL_RISKS = ("low", "medium", "high")
OPEN_ACTION_STATUSES = ("open", "in_progress")  # still to do: what an owner sees and what can fall overdue
FINDING_SEVERITIES = ("major", "minor", "observation")
FINDING_STATUSES = ("open", "answered", "closed")
OPEN_FINDING_STATUSES = ("open", "answered")  # not closed by the evaluation centre yet
# An evaluation by the evaluation centre: the initial one, the two yearly surveillance audits, the renewal.
CAMPAIGN_KINDS = ("initial", "surveillance_1", "surveillance_2", "renewal")
# An evaluator's request for evidence ("demande de pièces"): open, answered by the team, accepted by the
# evaluator, or reopened (the answer did not satisfy: the team answers again).
REQUEST_STATUSES = ("open", "answered", "accepted", "reopened")
OPEN_REQUEST_STATUSES = ("open", "reopened")  # waiting for the team's answer
# What a comment thread hangs on (the subject's row id; the thread belongs to one perimeter).
COMMENT_SUBJECTS = ("requirement", "control", "evidence_version", "request", "finding")
# A rendered dossier is a draft until two distinct people approve it; approving freezes it for good.
DOSSIER_STATUSES = ("queued", "rendering", "draft", "approved", "failed")
RENDERED_DOSSIER_STATUSES = ("draft", "approved")  # a PDF is stored and can be downloaded
# The documents an evaluator asks for first, each designated from the perimeter's evidence (the dossier
# lists a missing one as missing), and the architecture diagrams (PNG or JPEG evidence) it embeds.
REFERENCE_DOCUMENTS = ("security_policy", "risk_assessment", "extra_eu_law_risk", "network_map", "continuity_plan",
                       "continuity_tests", "audit_programme", "passi_audit", "service_agreement")
ARCHITECTURE_DIAGRAM = "architecture"
PERIMETER_DOCUMENT_ROLES = REFERENCE_DOCUMENTS + (ARCHITECTURE_DIAGRAM,)
DIAGRAM_MEDIA_TYPES = ("image/png", "image/jpeg")
# Coverage: the team's claim on an item, never the evaluation centre's conclusion ("conforme" is theirs).
COVERAGE_STATES = ("not_covered", "partly_covered", "covered")
RECOMMENDATION_STATES = ("not_followed", "followed")
# A manager's verdict overrides the computed coverage; applicability is decided apart (no verdict excludes).
VERDICT_STATUSES = COVERAGE_STATES + RECOMMENDATION_STATES

# Sovereignty registers (chapter 19)
SEAT_KINDS = ("registered_office", "central_administration", "principal_establishment")
HOLDER_KINDS = ("direct", "ultimate")
DATA_ACTIVITIES = ("stored", "processed")
CUSTOMER_DATA = "customer_data"
TECHNICAL_DATA = ("identities", "logs", "directory", "certificates", "backups", "network_configuration")
DATA_CATEGORIES = (CUSTOMER_DATA,) + TECHNICAL_DATA
OPERATIONS = ("administration", "supervision", "support_l1", "support_l2", "support_l3")
CHANGE_KINDS = ("legal", "organisational", "technical")  # the changes customers are told of (19.6.f)

# Lengths refused (never cut) wherever a person or a file gives them.
MAX_TITLE = 300
MAX_DESCRIPTION = 20_000
MAX_NOTE = 2_000
MAX_URL = 2_000
MAX_STATEMENT = 10_000  # a control's implementation statement for one item (the dossier prints it whole)
MAX_JUSTIFICATION = 5_000  # a justification, a comment, a register's notes: a paragraph or a few
MAX_NAME = 200  # a person, a company, a public body, a perimeter (the columns' size)
MAX_REFERENCE = 100  # a contract's or a decision's number
MAX_LINE = 300  # one line of free text: an address, a service, how customers were told
MAX_CITY = 100
MAX_MARKING = 80  # the protection marking printed on every page of a dossier
