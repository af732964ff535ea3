"""Stage 2a of an import: each row checked against the folder and against what the database knows.

The database's facts are loaded once into a `Known` snapshot (`load_known`), which is also the evidence
service's lookup: a new-evidence row is judged by `check_evidence`, the rule the web form obeys, without a query
per row. What is the manifest's own (a file or a url, a ref row that only adds a version, dates as written in a
spreadsheet) is checked here.
"""
from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Iterator, Optional, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from evidence.core.errors import N_, EvidenceError, Gettext, Message
from evidence.data.models import (
    Control,
    ControlPerimeter,
    ControlRequirement,
    Evidence,
    EvidenceVersion,
    Framework,
    Perimeter,
    Requirement,
    User,
)
from evidence.data.storage import hash_stream
from evidence.importer.manifest import METADATA_COLUMNS, ManifestRow
from evidence.services.evidence import (
    DEFAULT_LINK_SCHEMES,
    CheckedEvidence,
    EvidenceDraft,
    EvidenceInvalid,
    LinkedControl,
    LinkedPerimeter,
    LinkedRequirement,
    can_edit_evidence,
    check_evidence,
    check_url,
)
from evidence.services.uploads import EMPTY_FILE

_REF_SPLIT = re.compile(r"[;,\s]+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FRENCH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


class ValueRefused(EvidenceError, ValueError):
    """A manifest value refused (a file name, a date): why, as a message put into words where it is shown."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | Message  # a manifest column, or a Message for what is no column (beyond the last one)
    value: object
    message: str | Message  # why; a Message put into the reader's language where the error is shown

    @property
    def text(self) -> Message:
        """The whole line: the row, the column, the value at fault and why."""
        return Message(N_("ligne %(row)s, colonne %(column)s, valeur %(value)s : %(reason)s"), row=self.row,
                       column=self.column, value=show_value(self.value), reason=self.message)

    def render(self, gettext: Optional[Gettext] = None) -> str:
        return self.text.render(gettext) if gettext else self.text.render()

    def __str__(self) -> str:
        return self.render()


def show_value(value) -> str:
    """A manifest value as an error line quotes it."""
    if isinstance(value, (date, datetime)):
        value = value.isoformat()
    text = str(value)
    return repr(text if len(text) <= 120 else text[:117] + "...")


# --- files under the root ------------------------------------------------------------------------------------


@dataclass(eq=False)  # compared by identity: it keys the cache of hashes
class SourceFile:
    name: str  # as the manifest writes it
    path: Path  # resolved, inside the root
    size: int
    identity: tuple[int, int]  # (st_dev, st_ino): the file opened later must be this one
    sha256: Optional[str] = None  # once hashed


def check_file(root: Path, name: str, max_size: Optional[int]) -> SourceFile:
    """The regular, readable file `name` names inside `root` (already resolved); ValueRefused says why not."""
    relative = name.replace("\\", "/")  # a manifest written on Windows
    if relative.startswith("/") or re.match(r"[A-Za-z]:", relative):
        raise ValueRefused(N_("un chemin absolu : donnez le chemin relatif à --root"), field="file")
    parts = PurePosixPath(relative).parts
    if ".." in parts:
        raise ValueRefused(N_("« .. » n’est pas admis : donnez le chemin relatif à --root"), field="file")
    if "\x00" in relative or not parts:
        raise ValueRefused(N_("pas un nom de fichier"), field="file")
    path = _existing(root, relative)
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise ValueRefused(N_("un lien symbolique vers rien"), field="file") from None
    if not real.is_relative_to(root):
        raise ValueRefused(N_("un lien symbolique qui mène hors de --root"), field="file")
    info = real.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ValueRefused(N_("pas un fichier ordinaire"), field="file")
    if max_size is not None and info.st_size > max_size:
        raise ValueRefused(N_("%(size)s octets : au-delà de la limite de téléversement de %(limit)s octets"),
                           size=info.st_size, limit=max_size, field="file")
    if info.st_size == 0:  # refused here, at planning, as the upload refuses it (uploads.check_not_empty)
        raise ValueRefused(EMPTY_FILE, name=name, field="file")
    try:
        open_file(real).close()
    except OSError as error:
        raise ValueRefused(N_("illisible (%(reason)s)"), reason=error.strerror or error, field="file") from None
    return SourceFile(name, real, info.st_size, (info.st_dev, info.st_ino))


def _existing(root: Path, relative: str) -> Path:
    # A manifest typed on one system may spell accented names in the other Unicode normal form (macOS: NFD).
    for form in (None, "NFC", "NFD"):
        path = root / (unicodedata.normalize(form, relative) if form else relative)
        if os.path.lexists(path):
            return path
    raise ValueRefused(N_("aucun fichier de ce nom sous --root"), field="file")


def open_file(path: Path):
    return open(path, "rb")


def open_source(source: SourceFile):
    """The file checked earlier, refusing a different file put in its place since."""
    stream = open_file(source.path)
    info = os.fstat(stream.fileno())
    if (info.st_dev, info.st_ino) != source.identity or not stat.S_ISREG(info.st_mode):
        stream.close()
        raise EvidenceError(N_("le fichier a été remplacé depuis sa vérification"), field="file")
    return stream


def hash_file(source: SourceFile) -> str:
    with open_source(source) as stream:
        return hash_stream(stream)  # as the store hashes: the same key


# --- values as a spreadsheet writes them ----------------------------------------------------------------------


def parse_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        if _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
        if match := _FRENCH_DATE.fullmatch(value):
            return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        raise ValueRefused(N_("cette date n’existe pas")) from None
    raise ValueRefused(N_("pas une date : écrivez AAAA-MM-JJ ou JJ/MM/AAAA"))


def split_refs(value) -> list[str]:
    """References separated by `;` (also `,`, spaces or line breaks), in order, without repeats."""
    return list(dict.fromkeys(r for r in _REF_SPLIT.split(str(value)) if r))


# --- what the database knows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentVersion:
    number: int
    sha256: Optional[str]
    size: Optional[int]
    url: Optional[str]


@dataclass(frozen=True)
class KnownEvidence:
    id: int
    ref: str
    title: str
    owner_id: Optional[int]
    current: Optional[CurrentVersion]
    kind: str = ""


@dataclass
class Known:
    """What the database holds that the manifest refers to, loaded once (see `load_known`); the evidence
    service's lookup by the manifest's words (an owner's e-mail, control refs, item refs)."""

    users: dict = field(default_factory=dict)  # lower-case email -> User (id, email, role, active)
    controls: dict = field(default_factory=dict)  # ref -> LinkedControl
    requirements: dict = field(default_factory=dict)  # lower-case ref -> LinkedRequirement
    perimeters: dict = field(default_factory=dict)  # code -> LinkedPerimeter
    control_scope: dict = field(default_factory=dict)  # control id -> [LinkedPerimeter]
    entries: dict = field(default_factory=dict)  # requirement id -> entry ids of its checklist
    mapped: dict = field(default_factory=dict)  # control id -> requirement ids it is mapped to
    evidence: dict = field(default_factory=dict)  # ref -> KnownEvidence
    by_title: dict = field(default_factory=dict)  # title -> [KnownEvidence]: what a row without ref may repeat

    def find_user(self, key):
        return self.users.get(str(key).lower())

    def find_controls(self, keys: Sequence) -> dict:
        return {key: self.controls[key.upper()] for key in keys if key.upper() in self.controls}

    def find_requirements(self, keys: Sequence) -> dict:
        return {key: self.requirements[key.lower()] for key in keys if key.lower() in self.requirements}

    def find_perimeters(self, keys: Sequence) -> dict:
        return {key: self.perimeters[key.lower()] for key in keys if key.lower() in self.perimeters}

    def control_perimeters(self, control_ids: Sequence[int]) -> list:
        found = {p.id: p for c in control_ids for p in self.control_scope.get(c, [])}
        return sorted(found.values(), key=lambda p: p.code)

    def entries_of(self, requirement_ids: Sequence[int], control_ids: Sequence[int]) -> dict:
        items = set(requirement_ids) | {r for c in control_ids for r in self.mapped.get(c, ())}
        return {entry: r for r in items for entry in self.entries.get(r, ())}


def chunks(items: list, size: int = 500) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def load_known(session: Session, rows: list[ManifestRow]) -> Known:
    """Users, and the controls, items and evidence the manifest names (by ref, and by title for new rows)."""
    known = Known()
    known.users = {u.email.lower(): u for u in session.scalars(select(User))}
    control_refs = sorted({r for row in rows for r in split_refs(str(row.values.get("controls", "")).upper())})
    for chunk in chunks(control_refs):
        query = select(Control.id, Control.ref, Control.status).where(Control.ref.in_(chunk))
        for control_id, ref, status in session.execute(query):
            known.controls[ref] = LinkedControl(control_id, ref, status)
    known.perimeters = {code: LinkedPerimeter(id_, code) for id_, code in session.execute(select(Perimeter.id, Perimeter.code))}
    control_ids = [c.id for c in known.controls.values()]
    by_id = {p.id: p for p in known.perimeters.values()}
    for chunk in chunks(control_ids):
        for control_id, perimeter_id in session.execute(
                select(ControlPerimeter.control_id, ControlPerimeter.perimeter_id).where(ControlPerimeter.control_id.in_(chunk))):
            known.control_scope.setdefault(control_id, []).append(by_id[perimeter_id])
        for control_id, requirement_id in session.execute(
                select(ControlRequirement.control_id, ControlRequirement.requirement_id)
                .where(ControlRequirement.control_id.in_(chunk))):
            known.mapped.setdefault(control_id, []).append(requirement_id)
    # Items of the assessed referential, as the evidence form reads them.
    for requirement_id, ref in session.execute(
        select(Requirement.id, Requirement.ref).join(Framework, Framework.id == Requirement.framework_id)
        .where(Framework.assessed).order_by(Requirement.id.desc())
    ):
        known.requirements[ref.lower()] = LinkedRequirement(requirement_id, ref)
    if any(str(row.values.get("answers", "")).strip() for row in rows):  # the checklists, only when answers are given
        for requirement_id, entries in session.execute(
            select(Requirement.id, Requirement.expected_evidence).join(Framework, Framework.id == Requirement.framework_id)
            .where(Framework.assessed)
        ):
            known.entries[requirement_id] = [e["id"] for e in entries or []]
    refs = sorted({str(row.values.get("ref", "")).strip().upper() for row in rows} - {""})
    titles = sorted({str(row.values.get("title", "")).strip() for row in rows
                     if not str(row.values.get("ref", "")).strip()} - {""})
    for chunk in chunks(refs):
        for evidence in _evidence_with_current_version(session, Evidence.ref.in_(chunk)):
            known.evidence[evidence.ref] = evidence
    for chunk in chunks(titles):
        for evidence in _evidence_with_current_version(session, Evidence.title.in_(chunk)):
            known.by_title.setdefault(evidence.title, []).append(evidence)
    return known


def _evidence_with_current_version(session: Session, condition) -> list[KnownEvidence]:
    later = aliased(EvidenceVersion)
    newest = (select(func.max(later.number)).where(later.evidence_id == Evidence.id)
              .correlate(Evidence).scalar_subquery())
    rows = session.execute(
        select(Evidence.id, Evidence.ref, Evidence.title, Evidence.owner_id, Evidence.kind, EvidenceVersion.number,
               EvidenceVersion.sha256, EvidenceVersion.size, EvidenceVersion.url)
        .outerjoin(EvidenceVersion, (EvidenceVersion.evidence_id == Evidence.id) & (EvidenceVersion.number == newest))
        .where(condition).order_by(Evidence.id)
    )
    return [KnownEvidence(id_, ref, title, owner_id, CurrentVersion(number, sha, size, url) if number else None, kind)
            for id_, ref, title, owner_id, kind, number, sha, size, url in rows]


def resolve_actor(session: Session, email: Optional[str]) -> User:
    """The user the import is attributed to: --as EMAIL, or else the sole active admin."""
    if email:
        user = session.scalars(select(User).where(User.email == email.strip().lower())).first()
        if user is None:
            raise EvidenceError(N_("--as %(email)s : aucun utilisateur de ce nom"), email=email)
        if not user.active:
            raise EvidenceError(N_("--as %(email)s : ce compte est désactivé"), email=email)
        if not can_edit_evidence(user, None):
            # Only an auditor is refused: every other role may add evidence.
            raise EvidenceError(N_("--as %(email)s : un auditeur ne peut pas ajouter de preuves"), email=email)
        return user
    admins = session.scalars(select(User).where(User.role == "admin", User.active).order_by(User.email)).all()
    if len(admins) == 1:
        return admins[0]
    if not admins:
        raise EvidenceError(N_("aucun administrateur actif à qui attribuer l’import : donnez --as EMAIL"))
    raise EvidenceError(N_("%(count)s administrateurs existent (%(emails)s) : dites avec --as EMAIL qui importe"),
                        count=len(admins), emails=", ".join(a.email for a in admins))


# --- checking a row ----------------------------------------------------------------------------------------------


@dataclass
class Entry:
    """A valid row: what to import."""

    number: int
    file: Optional[SourceFile]
    url: str
    evidence: Optional[KnownEvidence]  # the evidence this row adds a version to (column ref)
    data: Optional[CheckedEvidence]  # the new evidence's fields, as `check_evidence` passed them (no ref)


def validate_row(row: ManifestRow, known: Known, actor: User, root: Path, max_size: Optional[int],
                 link_schemes: Sequence[str] = DEFAULT_LINK_SCHEMES) -> tuple[Optional[Entry], list[RowError]]:
    """The row as an Entry, or every error it has (each naming the row, the column and the value)."""
    errors = []
    values = row.values

    def error(column, message, value=None):
        errors.append(RowError(row.number, column, values.get(column, "") if value is None else value, message))

    def text(column) -> str:
        value = values.get(column, "")
        return value.isoformat() if isinstance(value, (date, datetime)) else value

    if row.extra:
        error(Message(N_("(après la dernière colonne)")),
              Message(N_("plus de valeurs que de colonnes : mettez entre guillemets les valeurs qui contiennent "
                         "le séparateur")), "; ".join(map(str, row.extra)))
    name, url = text("file"), text("url")
    source = None
    if name and url:
        error("url", Message(N_("donnez un fichier ou une url, pas les deux")))
    elif not name and not url:
        error("file", Message(N_("donnez un fichier (ou une url)")))
    elif name:
        try:
            source = check_file(root, name, max_size)
        except ValueRefused as reason:
            error("file", reason.message)
    else:
        try:
            url = check_url(url, link_schemes)
        except EvidenceInvalid as invalid:
            for problem in invalid.problems:
                error(problem.field, problem.message)

    if ref := text("ref").upper():
        evidence = known.evidence.get(ref)
        if evidence is None:
            error("ref", Message(N_("aucune preuve de cette référence (laissez ref vide pour créer une preuve)")))
        elif not can_edit_evidence(actor, evidence):
            error("ref", Message(N_("%(email)s ne peut pas lui ajouter de version (un contributeur ne versionne que "
                                    "ses propres preuves)"), email=actor.email))
        for column in METADATA_COLUMNS:
            if text(column):
                error(column, Message(N_("une ligne avec ref ne fait qu’ajouter une version : laissez cette colonne "
                                         "vide (modifiez la preuve dans l’application)")))
        return _entry_or_errors(row, errors, source, url, evidence, None)

    dates = {}
    for column in ("effective_date", "valid_until"):
        if values.get(column, "") != "":
            try:
                dates[column] = parse_date(values[column])
            except ValueRefused as reason:
                error(column, reason.message)
    draft = EvidenceDraft(
        title=text("title"), kind=text("kind") or ("link" if url and not name else "record"),
        description=text("description"), owner=text("owner") or None,
        classification=text("classification") or "internal",
        effective_date=dates.get("effective_date"), valid_until=dates.get("valid_until"),
        controls=tuple(split_refs(text("controls").upper())), requirements=tuple(split_refs(text("requirements"))),
        perimeters=tuple(split_refs(text("perimeters").lower())) or None, answers=tuple(split_refs(text("answers"))),
        document_version=str(text("document_version")), renewal=text("renewal").strip().lower(),
    )
    checked = None
    try:
        checked = check_evidence(actor, draft, known)  # the rule the web form obeys, on the snapshot
    except EvidenceInvalid as invalid:
        for problem in invalid.problems:
            error(problem.field, problem.message, problem.value)
    return _entry_or_errors(row, errors, source, url, None, checked)


def _entry_or_errors(row, errors, source, url, evidence, checked):
    if errors:
        return None, errors
    return Entry(row.number, source, url if source is None else "", evidence, checked), []
