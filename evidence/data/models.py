"""The tables of the product (see DESIGN.md: referential, qualification, users and audit).

Enumerated fields are plain strings checked by CHECK constraints rather than database enum types: adding a
value is then a one-line migration on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, MetaData, UniqueConstraint
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from evidence.core.vocabulary import (  # noqa: F401  (re-exported: models name their allowed values)
    ACTION_STATUSES,
    API_TOKEN_ROLES,
    APPLICABILITY_REASONS,
    CAMPAIGN_KINDS,
    CHANGE_KINDS,
    CLASSIFICATIONS,
    COLLECTION_RESULTS,
    COMMENT_SUBJECTS,
    CONTROL_CATEGORIES,
    CONTROL_STATUSES,
    DATA_ACTIVITIES,
    DOSSIER_STATUSES,
    EVIDENCE_KINDS,
    EVIDENCE_STATUSES,
    FINDING_SEVERITIES,
    FINDING_STATUSES,
    HOLDER_KINDS,
    LINK_RELATIONSHIPS,
    NOTIFICATION_KINDS,
    PERIMETER_DOCUMENT_ROLES,
    PERIMETER_PHASES,
    RENEWAL_CADENCES,
    REQUEST_STATUSES,
    REQUIREMENT_KINDS,
    RESIDUAL_RISKS,
    ROLES,
    SEAT_KINDS,
    SERVICE_TYPES,
    VERDICT_STATUSES,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata = MetaData(naming_convention=NAMING_CONVENTION)



def utcnow() -> datetime:
    """Aware UTC: SQLModel stores datetimes with their time zone on both databases."""
    return datetime.now(timezone.utc)


def one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=column)


def json_column(**kw) -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False, **kw))


class Versioned:
    """Optimistic locking: SQLAlchemy bumps `version` on every UPDATE and refuses to write over a row that
    changed since it was read (StaleDataError). Views also compare the version a form was loaded with."""

    @declared_attr
    def __mapper_args__(cls):
        return {"version_id_col": cls.__table__.c.version}


# --- Users -------------------------------------------------------------------------------------------


class User(SQLModel, table=True):
    __table_args__ = (one_of("role", ROLES), UniqueConstraint("oidc_issuer", "oidc_subject"))

    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)
    active: bool = True
    # Rotated on logout, disable and role change: every session cookie issued before stops working.
    session_token: str = Field(max_length=64)
    locale: Optional[str] = Field(default=None, max_length=5)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: Optional[datetime] = None
    digest: bool = True  # receives the e-mail digest (the user may opt out on the account page)
    # The last digest mailed: what it reported is not reported again (stored notifications by time, date-driven
    # tasks by the day they became due, judged on the product's "today").
    digest_sent_at: Optional[datetime] = None
    digest_sent_on: Optional[date] = None
    # An initial password someone else read (an admin's account creation) must be replaced at the next login.
    must_change_password: bool = False
    password_changed_at: Optional[datetime] = None
    # Single sign-on: the identity provider's account this one is bound to (its issuer and `sub`, unique together),
    # and whether a password may still open it (an SSO user's is refused unless OIDC_PASSWORD_LOGIN allows it).
    oidc_issuer: Optional[str] = Field(default=None, max_length=254)
    oidc_subject: Optional[str] = Field(default=None, max_length=255)
    password_login: bool = True
    # An API token's own account (a pipeline, a scanner): it acts through its token only, never logs in to the web.
    service_account: bool = False

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"


class Notification(SQLModel, table=True):
    """Something that happened that a user should know of (a review asked of them, their evidence approved or
    rejected, a finding on their control): their inbox and the digest read it. The words are put together when
    shown, in the reader's language, from `kind` and `payload` (refs, titles, names as they were)."""

    __table_args__ = (
        one_of("kind", NOTIFICATION_KINDS),
        Index("ix_notification_recipient_unread", "recipient_id", "read_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    kind: str = Field(max_length=30)
    object_type: str = Field(max_length=30)  # evidence, finding
    object_id: str = Field(max_length=60)  # the evidence's ref, the finding's id
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    read_at: Optional[datetime] = None


class PasswordToken(SQLModel, table=True):
    """A one-time link to set a password (an account created by an admin): only its SHA-256 is kept; it expires
    and is used once."""

    __tablename__ = "password_token"

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: Optional[datetime] = None


class LoginFailure(SQLModel, table=True):
    """Failed logins, kept in the database so that throttling holds across workers."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_email_at", "email", "at"),
        Index("ix_login_failure_address_at", "address", "at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    address: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)


# --- API tokens -------------------------------------------------------------------------------------


class ApiToken(SQLModel, table=True):
    """A bearer token of the REST API: only its SHA-256 is kept (and a short prefix to recognise it in a list).
    It acts as `user` (a person, or its own service account) with exactly that account's role; limited to the
    perimeters of its ApiTokenPerimeter rows, when it has any."""

    __tablename__ = "api_token"
    __table_args__ = (one_of("role", API_TOKEN_ROLES),)

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    role: str = Field(max_length=20)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None
    last_used_at: Optional[datetime] = None


class ApiTokenPerimeter(SQLModel, table=True):
    """A perimeter an API token is limited to (none: every perimeter)."""

    __tablename__ = "api_token_perimeter"

    token_id: int = Field(foreign_key="api_token.id", primary_key=True, ondelete="CASCADE")
    perimeter_id: int = Field(foreign_key="perimeter.id", primary_key=True, index=True, ondelete="CASCADE")


# --- Audit trail -------------------------------------------------------------------------------------


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: datetime = Field(index=True)
    actor_id: Optional[int] = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    actor: str = Field(max_length=254)  # the actor's email at the time, or "system"
    action: str = Field(max_length=64, index=True)
    object_type: Optional[str] = Field(default=None, max_length=64)
    object_id: Optional[str] = Field(default=None, max_length=254)  # room for an e-mail address
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # HMAC of `hash` under a key kept outside the database: a chain rewritten from the database alone fails.
    seal: Optional[str] = Field(default=None, max_length=64)


class AuditHead(SQLModel, table=True):
    """One row: the last sequence number and hash. Appending updates it first, which serialises writers on
    both databases, and it lets verification notice events removed from the end of the log."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)
    seal: Optional[str] = Field(default=None, max_length=64)  # HMAC of (seq, hash), as on the events


class DataVersion(SQLModel, table=True):
    """One row: a counter every transaction that writes bumps as it commits (evidence.data.database). A cached
    computation (services.status_cache) is keyed by it, so that a write on any node is seen by every node's next
    read. No row until the first write: a migrated, never used database holds no data."""

    __tablename__ = "data_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0, sa_type=BigInteger)


class DataChange(SQLModel, table=True):
    """What the transaction that made data version `version` wrote, as a perimeter's status sees it
    (evidence.data.changes): the evidence, controls and items it touched, or everything. Written with the version,
    in the same transaction; a node holding a status of an older version recomputes those items alone. The
    oldest are pruned: a node further behind recomputes whole."""

    __tablename__ = "data_change"

    version: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    reach: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# --- Referential -------------------------------------------------------------------------------------


class Framework(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(max_length=100, unique=True)
    name: str = Field(max_length=300)
    version: str = Field(default="", max_length=50)
    locale: str = Field(default="fr", max_length=10)
    source: str = Field(default="", max_length=300)
    assessed: bool = False  # a referential perimeters are qualified against (not only a link target)
    origin: str = Field(default="catalogue", max_length=20)  # catalogue (controls/) or library (imported)


class Section(SQLModel, table=True):
    """A chapter or section of a framework, above its requirements (DESIGN.md keeps these implicit; the
    requirement browser needs their titles)."""

    __table_args__ = (UniqueConstraint("framework_id", "ref"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    framework_id: int = Field(foreign_key="framework.id", index=True, ondelete="CASCADE")
    ref: str = Field(max_length=50)
    parent_ref: Optional[str] = Field(default=None, max_length=50)
    depth: int = 1
    title: str = Field(max_length=300)
    title_en: str = Field(default="", max_length=300)
    order: int = 0


class Requirement(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("framework_id", "ref"),
        one_of("kind", REQUIREMENT_KINDS),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    framework_id: int = Field(foreign_key="framework.id", index=True, ondelete="CASCADE")
    ref: str = Field(max_length=50)
    chapter: str = Field(max_length=20)
    section: str = Field(max_length=50)
    title: str = Field(max_length=300)
    title_en: str = Field(default="", max_length=300)
    summary: str = ""
    summary_en: str = ""
    official_text: str = ""
    # The situation in which the item applies, when the referential makes it depend on one (e.g. IPsec in use):
    # only such an item, or a recommendation, may be declared not applicable, with a justification.
    condition: str = ""
    condition_en: str = ""
    kind: str = Field(default="exigence", max_length=20)
    service_types: list = json_column()  # only these service types (empty: every type)
    built_on_types: list = json_column()  # only when built on a lower layer of these types (empty: always)
    expected_evidence: list = json_column()  # [{"id": "12.6.c#1", "text": …, "text_en": …}]: the checklist
    # URNs of the library nodes folded into this item (its own and its sub-bullets'), recorded by an overlay
    # import so that mapping libraries that point at sub-bullets still find the item.
    urns: list = json_column()
    order: int = 0


class RequirementLink(SQLModel, table=True):
    __tablename__ = "requirement_link"
    __table_args__ = (
        UniqueConstraint("source_id", "target_id"),
        one_of("relationship", LINK_RELATIONSHIPS),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="requirement.id", index=True, ondelete="CASCADE")
    target_id: int = Field(foreign_key="requirement.id", index=True, ondelete="CASCADE")
    relationship: str = Field(default="intersect", max_length=20)
    origin: str = Field(default="catalogue", max_length=20)  # catalogue: re-loading may remove it; library: kept
    rationale: str = ""  # why the link holds (reviewed catalogue links); empty for a library's unreviewed link
    rationale_en: str = ""


# --- Qualification -----------------------------------------------------------------------------------


class Perimeter(Versioned, SQLModel, table=True):
    __table_args__ = (one_of("phase", PERIMETER_PHASES),)

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    description: str = ""
    service_types: list = json_column()
    framework_id: int = Field(foreign_key="framework.id", index=True)
    built_on_id: Optional[int] = Field(default=None, foreign_key="perimeter.id", ondelete="SET NULL")
    phase: str = Field(default="preparation", max_length=20)
    evaluation_centre: str = Field(default="", max_length=200)
    request_filed_on: Optional[date] = None
    evaluation_started_on: Optional[date] = None
    qualified_on: Optional[date] = None
    qualification_reference: str = Field(default="", max_length=100)  # ANSSI's decision number
    qualification_expires_on: Optional[date] = None
    next_surveillance_on: Optional[date] = None
    # The structured description the dossier's perimeter part prints (sites: the Site register).
    service_offer: str = ""  # what is sold, to whom, under which commercial name
    customers: str = ""  # customers and users, and how they reach the service
    interconnections: str = ""  # networks and systems the perimeter exchanges with
    administration: str = ""  # administration paths: from where, through what, by whom
    out_of_scope: str = ""  # what the qualification does not cover
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Applicability(SQLModel, table=True):
    """Only the exceptions to what the service types imply are stored; everything else is derived."""

    __table_args__ = (
        UniqueConstraint("perimeter_id", "requirement_id"),
        one_of("reason", APPLICABILITY_REASONS),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", index=True, ondelete="CASCADE")
    applicable: bool = True
    reason: str = Field(default="manual", max_length=20)
    justification: str = ""
    updated_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    updated_at: datetime = Field(default_factory=utcnow)


class Verdict(SQLModel, table=True):
    """A manager's verdict on one item in one perimeter, overriding the computed status."""

    __table_args__ = (
        UniqueConstraint("perimeter_id", "requirement_id"),
        one_of("status", VERDICT_STATUSES),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", index=True, ondelete="CASCADE")
    status: str = Field(max_length=20)
    justification: str
    decided_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    decided_at: datetime = Field(default_factory=utcnow)


class EntryWaiver(SQLModel, table=True):
    """A manager's decision that one expected evidence entry of an item needs no proof in one perimeter."""

    __tablename__ = "entry_waiver"
    __table_args__ = (UniqueConstraint("perimeter_id", "requirement_id", "entry_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", index=True, ondelete="CASCADE")
    entry_id: str = Field(max_length=60)  # e.g. "12.6.c#2"
    justification: str
    decided_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    decided_at: datetime = Field(default_factory=utcnow)


class Control(Versioned, SQLModel, table=True):
    __table_args__ = (one_of("category", CONTROL_CATEGORIES), one_of("status", CONTROL_STATUSES))

    id: Optional[int] = Field(default=None, primary_key=True)
    ref: str = Field(max_length=40, unique=True)
    title: str = Field(max_length=300)
    description: str = ""
    category: str = Field(default="technical", max_length=20)
    owner_id: Optional[int] = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    status: str = Field(default="planned", max_length=20)
    review_cycle_days: int = 365
    last_reviewed_on: Optional[date] = None
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ControlPerimeter(SQLModel, table=True):
    __tablename__ = "control_perimeter"

    control_id: int = Field(foreign_key="control.id", primary_key=True, ondelete="CASCADE")
    perimeter_id: int = Field(foreign_key="perimeter.id", primary_key=True, index=True, ondelete="CASCADE")


class ControlRequirement(SQLModel, table=True):
    __tablename__ = "control_requirement"
    __table_args__ = (UniqueConstraint("control_id", "requirement_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    control_id: int = Field(foreign_key="control.id", index=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", index=True, ondelete="CASCADE")
    statement: str = ""


class Evidence(Versioned, SQLModel, table=True):
    __table_args__ = (
        one_of("kind", EVIDENCE_KINDS),
        one_of("status", EVIDENCE_STATUSES),
        one_of("classification", CLASSIFICATIONS),
        one_of("renewal", ("",) + RENEWAL_CADENCES),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    ref: str = Field(max_length=40, unique=True)
    title: str = Field(max_length=300)
    description: str = ""
    kind: str = Field(default="record", max_length=20)
    owner_id: Optional[int] = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    classification: str = Field(default="internal", max_length=20)
    status: str = Field(default="draft", max_length=20, index=True)
    review_comment: str = ""
    reviewed_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    reviewed_at: Optional[datetime] = None
    effective_date: Optional[date] = None
    valid_until: Optional[date] = Field(default=None, index=True)
    document_version: str = Field(default="", max_length=40)  # the document's own version ("2.3"), not ours
    renewal: str = Field(default="", max_length=20)  # RENEWAL_CADENCES: recurring evidence; "": renewed when it expires
    # Need-to-know: the roles named on the evidence that may read it beyond what its classification allows
    # (the people named are EvidenceReader rows).
    reader_roles: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    # The ids of those who changed what a review vouches for (dates, links, title...) since it was last
    # approved: like the current version's author, none of them may be the one who approves it (four eyes).
    editor_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    # Automated evidence: the collector that keeps it up ("prowler") and what it collects for, unique:
    # "<collector>:<source>:<subject>:<perimeter code>" (one evidence per perimeter and subject).
    collector: Optional[str] = Field(default=None, max_length=40)
    collector_key: Optional[str] = Field(default=None, max_length=300, unique=True)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PerimeterDocument(SQLModel, table=True):
    """A piece of evidence designated as one of a perimeter's reference documents, or as an architecture
    diagram the dossier embeds (REFERENCE_DOCUMENTS, ARCHITECTURE_DIAGRAM)."""

    __tablename__ = "perimeter_document"
    __table_args__ = (UniqueConstraint("perimeter_id", "role", "evidence_id"), one_of("role", PERIMETER_DOCUMENT_ROLES))

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=30)
    evidence_id: int = Field(foreign_key="evidence.id", index=True, ondelete="CASCADE")
    note: str = Field(default="", max_length=300)  # e.g. the risk assessment's method ("EBIOS RM")
    position: int = 0  # order of the diagrams
    designated_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    designated_at: datetime = Field(default_factory=utcnow)


class EvidenceControl(SQLModel, table=True):
    __tablename__ = "evidence_control"

    evidence_id: int = Field(foreign_key="evidence.id", primary_key=True, ondelete="CASCADE")
    control_id: int = Field(foreign_key="control.id", primary_key=True, index=True, ondelete="CASCADE")


class EvidenceRequirement(SQLModel, table=True):
    __tablename__ = "evidence_requirement"

    evidence_id: int = Field(foreign_key="evidence.id", primary_key=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", primary_key=True, index=True, ondelete="CASCADE")


class EvidenceReader(SQLModel, table=True):
    """A person named on classified evidence as one who may read it (need-to-know)."""

    __tablename__ = "evidence_reader"

    evidence_id: int = Field(foreign_key="evidence.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True, ondelete="CASCADE")


class EvidencePerimeter(SQLModel, table=True):
    """The perimeters a piece of evidence is valid for: it proves nothing anywhere else."""

    __tablename__ = "evidence_perimeter"

    evidence_id: int = Field(foreign_key="evidence.id", primary_key=True, ondelete="CASCADE")
    perimeter_id: int = Field(foreign_key="perimeter.id", primary_key=True, index=True, ondelete="CASCADE")


class EvidenceAnswer(SQLModel, table=True):
    """An expected evidence entry of an item that a piece of evidence answers (its checklist line)."""

    __tablename__ = "evidence_answer"

    evidence_id: int = Field(foreign_key="evidence.id", primary_key=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", primary_key=True, index=True, ondelete="CASCADE")
    entry_id: str = Field(max_length=60, primary_key=True)


class EvidenceVersion(SQLModel, table=True):
    __tablename__ = "evidence_version"
    __table_args__ = (UniqueConstraint("evidence_id", "number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    evidence_id: int = Field(foreign_key="evidence.id", index=True, ondelete="CASCADE")
    number: int
    sha256: Optional[str] = Field(default=None, max_length=64, index=True)
    size: Optional[int] = None
    media_type: str = Field(default="application/octet-stream", max_length=200)
    original_filename: str = Field(default="", max_length=255)
    storage_key: Optional[str] = Field(default=None, max_length=300)
    url: Optional[str] = Field(default=None, max_length=2000)
    author_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    note: str = ""
    # Set when a reviewer approves the evidence while this is its current version: the one version cited as proof.
    # A collector's later run of approved automated evidence carries that approval (rules.keeps_review).
    approved_at: Optional[datetime] = None
    approved_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")


class Campaign(Versioned, SQLModel, table=True):
    """An evaluation of a perimeter by an evaluation centre (the initial one, a surveillance audit, the renewal):
    it groups the evaluators' requests and findings, and its dates bound the evaluators' access granted for it."""

    __table_args__ = (one_of("kind", CAMPAIGN_KINDS),)

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)
    centre: str = Field(max_length=200)  # the evaluation centre's name (an ANSSI-approved centre)
    starts_on: date
    ends_on: date  # the last day of the evaluation: access granted for it ends the day after
    closed_at: Optional[datetime] = None
    created_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PerimeterGrant(SQLModel, table=True):
    """A perimeter an auditor or an evaluator may read, until a day (inclusive) or with no end; granted for a
    campaign, it ends with it. An auditor granted none reads every perimeter; an evaluator granted none, none."""

    __tablename__ = "perimeter_grant"

    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    perimeter_id: int = Field(foreign_key="perimeter.id", primary_key=True, index=True, ondelete="CASCADE")
    until: Optional[date] = None
    campaign_id: Optional[int] = Field(default=None, foreign_key="campaign.id", index=True, ondelete="SET NULL")
    granted_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    granted_at: datetime = Field(default_factory=utcnow)


class EvidenceRequest(Versioned, SQLModel, table=True):
    """An evaluator's request for evidence on an item or a control ("demande de pièces"), answered by the team
    with evidence that the normal review approves before the evaluator sees it."""

    __tablename__ = "evidence_request"
    __table_args__ = (one_of("status", REQUEST_STATUSES),)

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    campaign_id: Optional[int] = Field(default=None, foreign_key="campaign.id", index=True, ondelete="SET NULL")
    requirement_id: Optional[int] = Field(default=None, foreign_key="requirement.id", index=True, ondelete="SET NULL")
    control_id: Optional[int] = Field(default=None, foreign_key="control.id", index=True, ondelete="SET NULL")
    text: str
    due_date: Optional[date] = None
    status: str = Field(default="open", max_length=20, index=True)
    raised_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    assignee_id: Optional[int] = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RequestEvidence(SQLModel, table=True):
    """Evidence given in answer to a request."""

    __tablename__ = "request_evidence"

    request_id: int = Field(foreign_key="evidence_request.id", primary_key=True, ondelete="CASCADE")
    evidence_id: int = Field(foreign_key="evidence.id", primary_key=True, index=True, ondelete="CASCADE")
    added_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    added_at: datetime = Field(default_factory=utcnow)


class Comment(Versioned, SQLModel, table=True):
    """One message of a thread on an item, a control, an evidence version, a request or a finding, within one
    perimeter. Edited or deleted, it says so (the audit log keeps every text): never silently."""

    __table_args__ = (one_of("subject_type", COMMENT_SUBJECTS),
                      Index("ix_comment_subject", "perimeter_id", "subject_type", "subject_id"))

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", ondelete="CASCADE")
    subject_type: str = Field(max_length=20)
    subject_id: int
    author_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    body: str
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    edited_at: Optional[datetime] = None
    deleted_at: Optional[datetime] = None
    deleted_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")


class Finding(SQLModel, table=True):
    __table_args__ = (one_of("severity", FINDING_SEVERITIES), one_of("status", FINDING_STATUSES))

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    requirement_id: Optional[int] = Field(default=None, foreign_key="requirement.id", index=True)
    severity: str = Field(max_length=20)
    text: str
    response: str = ""
    status: str = Field(default="open", max_length=20)
    raised_on: Optional[date] = None
    due_date: Optional[date] = None
    # Raised in place by an evaluator (None: typed in by the team from the centre's report), for a campaign.
    raised_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    campaign_id: Optional[int] = Field(default=None, foreign_key="campaign.id", index=True, ondelete="SET NULL")
    closed_at: Optional[datetime] = None
    closed_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class FindingEvidence(SQLModel, table=True):
    """The evidence versions the evaluator looked at when raising a finding: pinned by version, so by hash."""

    __tablename__ = "finding_evidence"

    finding_id: int = Field(foreign_key="finding.id", primary_key=True, ondelete="CASCADE")
    evidence_version_id: int = Field(foreign_key="evidence_version.id", primary_key=True, index=True,
                                     ondelete="CASCADE")


class Action(SQLModel, table=True):
    __table_args__ = (one_of("status", ACTION_STATUSES), one_of("residual_risk", ("",) + RESIDUAL_RISKS))

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: Optional[int] = Field(default=None, foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=300)
    description: str = ""
    owner_id: Optional[int] = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    due_date: Optional[date] = None
    status: str = Field(default="open", max_length=20)
    residual_risk: str = Field(default="", max_length=10)  # RESIDUAL_RISKS, "" while not rated
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ActionRequirement(SQLModel, table=True):
    __tablename__ = "action_requirement"

    action_id: int = Field(foreign_key="action.id", primary_key=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", primary_key=True, index=True, ondelete="CASCADE")


class ActionControl(SQLModel, table=True):
    __tablename__ = "action_control"

    action_id: int = Field(foreign_key="action.id", primary_key=True, ondelete="CASCADE")
    control_id: int = Field(foreign_key="control.id", primary_key=True, index=True, ondelete="CASCADE")


class ActionFinding(SQLModel, table=True):
    __tablename__ = "action_finding"

    action_id: int = Field(foreign_key="action.id", primary_key=True, ondelete="CASCADE")
    finding_id: int = Field(foreign_key="finding.id", primary_key=True, index=True, ondelete="CASCADE")


class ReadinessSnapshot(SQLModel, table=True):
    """A perimeter's figures on one day (the last computation of the day wins): the readiness trend."""

    __tablename__ = "readiness_snapshot"
    __table_args__ = (UniqueConstraint("perimeter_id", "taken_on"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    taken_on: date
    covered: int
    partly_covered: int
    not_covered: int
    applicable: int  # applicable exigences (recommendations are reported apart)
    chapters: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # chapter -> [covered, applicable]
    updated_at: datetime = Field(default_factory=utcnow)


# --- Sovereignty registers (chapter 19) -------------------------------------------------------------------



class Seat(SQLModel, table=True):
    """Where the provider is established (19.6.a): one row per kind of seat."""

    __table_args__ = (one_of("kind", SEAT_KINDS),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30, unique=True)
    address: str = Field(default="", max_length=300)
    city: str = Field(default="", max_length=100)
    country: str = Field(max_length=2)
    updated_at: datetime = Field(default_factory=utcnow)


class Shareholder(SQLModel, table=True):
    """A holder of the provider's capital or voting rights (19.6.b); shares in basis points (1 % = 100)."""

    __table_args__ = (one_of("kind", HOLDER_KINDS),
                      CheckConstraint("capital_bp BETWEEN 0 AND 10000 AND voting_bp BETWEEN 0 AND 10000", name="shares"))

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    kind: str = Field(default="direct", max_length=10)
    capital_bp: int = 0
    voting_bp: int = 0
    veto: bool = False
    board_majority: bool = False
    notes: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class Subcontractor(SQLModel, table=True):
    """A third party that provides all or part of the service (19.6.c/d, chapter 15): its reach into the data,
    the company that owns or controls it (article L233-3 of the code de commerce; shares in basis points, held
    directly or indirectly), and its SecNumCloud qualification or the operating autonomy it guarantees."""

    __table_args__ = (CheckConstraint("parent_capital_bp BETWEEN 0 AND 10000 AND parent_voting_bp BETWEEN 0 AND 10000 "
                                      "AND largest_other_voting_bp BETWEEN 0 AND 10000", name="parent_shares"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    service: str = Field(default="", max_length=300)
    data_access: bool = False  # to the customers' data
    technical_data_access: Optional[bool] = None  # identities, SDN, logs, directory, certificates…; None: not assessed
    access_justification: str = ""
    parent_name: str = Field(default="", max_length=200)
    parent_country: str = Field(default="", max_length=2)
    parent_capital_bp: int = 0
    parent_voting_bp: int = 0
    largest_other_voting_bp: int = 0  # the largest voting share another partner holds
    parent_agreement: bool = False  # majority of the votes by agreement with other partners (L233-3 I 2°)
    parent_de_facto: bool = False  # determines the general meetings' decisions in fact (I 3°)
    parent_board_power: bool = False  # appoints or dismisses the majority of the board (I 4°)
    qualified: bool = False
    qualification_decision: str = Field(default="", max_length=100)  # the qualification decision's number
    qualification_date: Optional[date] = None
    own_skills: bool = False  # operating autonomy through the provider's own skills (19.6.d)
    alternatives: list = json_column()  # or through these other third parties, named (at least two)
    autonomy_arrangements: str = ""  # how: own team, update mirror, source-code escrow…
    contract_ref: str = Field(default="", max_length=100)
    updated_at: datetime = Field(default_factory=utcnow)


class SubcontractorPerimeter(SQLModel, table=True):
    """The perimeters a subcontractor serves (none recorded: all of them)."""

    __tablename__ = "subcontractor_perimeter"

    subcontractor_id: int = Field(foreign_key="subcontractor.id", primary_key=True, ondelete="CASCADE")
    perimeter_id: int = Field(foreign_key="perimeter.id", primary_key=True, index=True, ondelete="CASCADE")


class Site(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=60)
    city: str = Field(default="", max_length=100)
    country: str = Field(max_length=2)
    name: str = Field(default="", max_length=120)  # the site's own name ("PAR-2", "Campus Lyon")
    role: str = ""  # what it does for the perimeter (production, backup, operations centre…)


class DataLocation(SQLModel, table=True):
    """Where a category of data is stored or processed for a perimeter (19.2)."""

    __tablename__ = "data_location"
    __table_args__ = (one_of("activity", DATA_ACTIVITIES),)

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    category: str = Field(max_length=40)
    activity: str = Field(max_length=10)
    country: str = Field(max_length=2)


class OperationLocation(SQLModel, table=True):
    """Where an operation on a perimeter is performed from (19.2), with, for support outside the EU, the list
    of operations it is allowed to perform."""

    __tablename__ = "operation_location"

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    operation: str = Field(max_length=20)
    country: str = Field(max_length=2)
    allowed_operations: str = ""


class ForeignPublicLink(SQLModel, table=True):
    """A link of the provider with a government or public body outside the Union, and its assessment (19.6.e)."""

    __tablename__ = "foreign_public_link"

    id: Optional[int] = Field(default=None, primary_key=True)
    body: str = Field(max_length=200)
    country: str = Field(max_length=2)
    nature: str = ""  # what the link is: contract, funding, seat on a board…
    assessment: str = ""  # empty: not assessed yet, a gap
    assessed_on: Optional[date] = None
    updated_at: datetime = Field(default_factory=utcnow)


class ForeignLinkDeclaration(SQLModel, table=True):
    """The positive declaration that the provider has no link with a foreign government or public body: an empty
    register means nothing without it. Recording a link withdraws it."""

    __tablename__ = "foreign_link_declaration"

    id: Optional[int] = Field(default=None, primary_key=True)
    declared_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    declared_by: str = Field(max_length=254)  # the declarant's name and e-mail at the time, or the CLI actor
    declared_on: date
    statement: str = ""
    recorded_at: datetime = Field(default_factory=utcnow)


class SovereigntyChange(SQLModel, table=True):
    """A legal, organisational or technical change that may affect compliance with 19.6: the customers of the
    perimeters it concerns must be told formally within a month (19.6.f)."""

    __tablename__ = "sovereignty_change"
    __table_args__ = (one_of("kind", CHANGE_KINDS),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    changed_on: date = Field(index=True)
    description: str = Field(max_length=2000)
    recorded_by_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    recorded_at: datetime = Field(default_factory=utcnow)


class SovereigntyChangePerimeter(SQLModel, table=True):
    """The perimeters a change concerns (none recorded: all of them)."""

    __tablename__ = "sovereignty_change_perimeter"

    change_id: int = Field(foreign_key="sovereignty_change.id", primary_key=True, ondelete="CASCADE")
    perimeter_id: int = Field(foreign_key="perimeter.id", primary_key=True, index=True, ondelete="CASCADE")


class ChangeNotice(SQLModel, table=True):
    """The day the customers were told of a change: those of one perimeter, or of all it concerns (None)."""

    __tablename__ = "change_notice"

    id: Optional[int] = Field(default=None, primary_key=True)
    change_id: int = Field(foreign_key="sovereignty_change.id", index=True, ondelete="CASCADE")
    perimeter_id: Optional[int] = Field(default=None, foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    sent_on: date
    means: str = Field(default="", max_length=300)  # registered letter, contractual notice, customer portal…
    recorded_at: datetime = Field(default_factory=utcnow)


class Dossier(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("perimeter_id", "number"), one_of("status", DOSSIER_STATUSES))

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: int = Field(foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    number: int
    language: str = Field(default="fr", max_length=5)
    options: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    author_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    status: str = Field(default="queued", max_length=20)
    progress: int = 0
    error: str = ""
    sha256: Optional[str] = Field(default=None, max_length=64)
    size: Optional[int] = None
    storage_key: Optional[str] = Field(default=None, max_length=300)
    snapshot: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The draft's PDF stays when the approved one is rendered (sha256/size/storage_key then name the approved one).
    draft_sha256: Optional[str] = Field(default=None, max_length=64)
    draft_storage_key: Optional[str] = Field(default=None, max_length=300)
    approved_at: Optional[datetime] = None  # the second approval: the version is frozen from then on
    # SHA-256 of the evidence bundle's manifest, known from the snapshot alone (bundle.manifest_bytes).
    manifest_sha256: Optional[str] = Field(default=None, max_length=64)
    # The signed PDF (PAdES) of an approved version, when the organisation's certificate is configured.
    signed_sha256: Optional[str] = Field(default=None, max_length=64)
    signed_size: Optional[int] = None
    signed_storage_key: Optional[str] = Field(default=None, max_length=300)
    signed_at: Optional[datetime] = None
    signer: str = Field(default="", max_length=300)  # the certificate's subject


class DossierApproval(SQLModel, table=True):
    """One of the two approvals of a dossier version (four eyes): who, in which function, when."""

    __tablename__ = "dossier_approval"
    __table_args__ = (UniqueConstraint("dossier_id", "user_id"), UniqueConstraint("dossier_id", "function"))

    id: Optional[int] = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossier.id", index=True, ondelete="CASCADE")
    user_id: Optional[int] = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    name: str = Field(max_length=200)  # as it was when approving: the approval page prints it
    function: str = Field(max_length=120)  # one of DOSSIER_APPROVER_FUNCTIONS, as it read then
    approved_at: datetime = Field(default_factory=utcnow)


# --- Second factors (TOTP and recovery codes) --------------------------------------------------------


class TotpFactor(SQLModel, table=True):
    """A user's authenticator application (TOTP, RFC 6238), once confirmed by a first code. The shared secret is
    kept encrypted under a key derived from SECRET_KEY (services.second_factors): a database dump alone does not
    give it."""

    __tablename__ = "totp_factor"

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True, ondelete="CASCADE")  # one application per account
    secret: str = Field(max_length=255)  # nonce and AES-GCM ciphertext, base64url
    confirmed_at: datetime = Field(default_factory=utcnow)
    # The last time step a code was accepted for: that step and earlier ones are refused (a code is used once).
    last_used_step: Optional[int] = None  # a 30-second step since 1970: fits 32 bits for two thousand years


class RecoveryCode(SQLModel, table=True):
    """A single-use code that stands in for the second factor (a lost phone or key): only its SHA-256 is kept."""

    __tablename__ = "recovery_code"

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    used_at: Optional[datetime] = None


# --- Security keys (WebAuthn) ------------------------------------------------------------------------


class SecurityKey(SQLModel, table=True):
    """A security key or passkey (WebAuthn credential) a user registered as a second factor. Nothing here is a
    secret: the private key never leaves the authenticator; the public key checks its signatures."""

    __tablename__ = "security_key"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)  # the owner's word for it ("YubiKey bureau"), unique per user
    credential_id: str = Field(max_length=1400, unique=True)  # base64url; WebAuthn allows up to 1023 bytes
    public_key: str = Field(max_length=2000)  # the COSE public key, base64url
    # The authenticator's signature counter (32 bits unsigned, hence a big integer): a value that does not grow
    # betrays a copy of the key. Authenticators that keep no counter always send 0.
    sign_count: int = Field(default=0, sa_type=BigInteger)
    transports: list = json_column()  # what the browser said the key speaks (usb, nfc, ble, internal, hybrid)
    aaguid: str = Field(default="", max_length=36)  # the authenticator's model, as it declared it
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: Optional[datetime] = None


# --- Automated evidence (collection runs) ------------------------------------------------------------


class CollectionRun(SQLModel, table=True):
    """What a collector found in the run that made one version of automated evidence: the result and its counts,
    how long it stands (ttl_days after run_at), and the checks that did not pass (muted ones flagged)."""

    __tablename__ = "collection_run"
    __table_args__ = (one_of("result", COLLECTION_RESULTS),)

    id: Optional[int] = Field(default=None, primary_key=True)
    evidence_version_id: int = Field(foreign_key="evidence_version.id", unique=True, ondelete="CASCADE")
    collector: str = Field(max_length=40)  # "prowler"
    source: str = Field(max_length=100)  # what it read: "secnumcloud_3.2_azure"
    subject: str = Field(max_length=100)  # what it judged: Prowler's requirement "10.1", a host
    run_at: datetime  # when the tool ran (not when it was imported)
    result: str = Field(max_length=10)
    passed: int = 0
    failed: int = 0
    muted: int = 0
    manual: int = 0
    total: int = 0
    ttl_days: int
    # [{"check", "resource", "resource_name", "status", "muted"}]: what an evaluator follows up
    details: list = json_column()
    created_at: datetime = Field(default_factory=utcnow)
