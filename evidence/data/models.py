"""The tables of the product (see DESIGN.md: referential, qualification, users and audit).

Enumerated fields are plain strings checked by CHECK constraints rather than database enum types: adding a
value is then a one-line migration on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, CheckConstraint, Column, Index, MetaData, UniqueConstraint
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from evidence.core.vocabulary import (  # noqa: F401  (re-exported: models name their allowed values)
    ACTION_STATUSES,
    APPLICABILITY_REASONS,
    CLASSIFICATIONS,
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
    PERIMETER_PHASES,
    REQUIREMENT_KINDS,
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
    __table_args__ = (one_of("role", ROLES),)

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


class AuditHead(SQLModel, table=True):
    """One row: the last sequence number and hash. Appending updates it first, which serialises writers on
    both databases, and it lets verification notice events removed from the end of the log."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)


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
    official_text: str = ""
    kind: str = Field(default="exigence", max_length=20)
    service_types: list = json_column()  # only these service types (empty: every type)
    built_on_types: list = json_column()  # only when built on a lower layer of these types (empty: always)
    expected_evidence: list = json_column()
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
    qualification_expires_on: Optional[date] = None
    next_surveillance_on: Optional[date] = None
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
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class EvidenceControl(SQLModel, table=True):
    __tablename__ = "evidence_control"

    evidence_id: int = Field(foreign_key="evidence.id", primary_key=True, ondelete="CASCADE")
    control_id: int = Field(foreign_key="control.id", primary_key=True, index=True, ondelete="CASCADE")


class EvidenceRequirement(SQLModel, table=True):
    __tablename__ = "evidence_requirement"

    evidence_id: int = Field(foreign_key="evidence.id", primary_key=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", primary_key=True, index=True, ondelete="CASCADE")


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
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Action(SQLModel, table=True):
    __table_args__ = (one_of("status", ACTION_STATUSES),)

    id: Optional[int] = Field(default=None, primary_key=True)
    perimeter_id: Optional[int] = Field(default=None, foreign_key="perimeter.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=300)
    description: str = ""
    owner_id: Optional[int] = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    due_date: Optional[date] = None
    status: str = Field(default="open", max_length=20)
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
    compliant: int
    partial: int
    non_compliant: int
    applicable: int
    chapters: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # chapter -> [compliant, applicable]
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
    """A third party the service relies on (19.6.c/d, chapter 15)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    service: str = Field(default="", max_length=300)
    data_access: bool = False
    access_justification: str = ""
    qualified: bool = False
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
