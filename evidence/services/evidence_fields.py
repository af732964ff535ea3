"""The rules on an evidence's fields, whichever door they come through: `check_evidence` and what it looks up.

The web form, the importer and any other door call `check_evidence` with their own lookup (by id for the form,
by the manifest's words for the importer), so that the same input gets the same answer whichever way it comes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Collection, Optional, Protocol, Sequence
from urllib.parse import urlsplit

from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError, Message, words
from evidence.core.vocabulary import (
    AUTOMATED_KIND,
    CLASSIFICATIONS,
    EVIDENCE_KINDS,
    HAND_MADE_KINDS,
    MAX_DESCRIPTION,
    MAX_NOTE,
    MAX_TITLE,
    MAX_URL,
    RENEWAL_CADENCES,
)
from evidence.data.models import (
    Control,
    ControlPerimeter,
    ControlRequirement,
    Framework,
    Perimeter,
    Requirement,
    User,
)
from evidence.services.users import NOT_AN_OWNER, can_own

# --- Checking an evidence's fields ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldProblem:
    """One refused field. Fields are named as the manifest's columns (title, owner, controls, valid_until, ...),
    which are also the web form's field names: both doors name the same field for the same input."""

    field: str
    message: Message  # a whole sentence that names what it is about (beside its field or on its own)
    value: object = None  # the element at fault in a list (a control, an item), None when it is the whole field


class EvidenceInvalid(EvidenceError):
    """Evidence refused for one or more of its fields; `problems` says which and why. It is put into words as
    its problems, one after the other, in the reader's language."""

    def __init__(self, problems: Sequence[FieldProblem]):
        self.problems = tuple(problems)
        fields = {p.field for p in self.problems}
        super().__init__(self.problems[0].message, field=fields.pop() if len(fields) == 1 else None)
        self.args = (self.render(),)

    def render(self, gettext=str) -> str:
        return words([p.message for p in self.problems], gettext)


@dataclass(frozen=True)
class LinkedControl:
    id: int
    ref: str
    status: str


@dataclass(frozen=True)
class LinkedRequirement:
    id: int
    ref: str


@dataclass(frozen=True)
class LinkedPerimeter:
    id: int
    code: str


class EvidenceLookup(Protocol):
    """The facts `check_evidence` needs, found by the references a door holds: ids for `DatabaseLookup`; the
    manifest's e-mails and refs for the importer, which loads them once for every row instead of once a row."""

    def find_user(self, key) -> Optional[User]:
        """The user (anything with id, email, active), or None when there is no such user."""

    def find_controls(self, keys: Sequence) -> dict:
        """key -> LinkedControl, for the keys that name a control."""

    def find_requirements(self, keys: Sequence) -> dict:
        """key -> LinkedRequirement, for the keys that name an item of the referential."""

    def find_perimeters(self, keys: Sequence) -> dict:
        """key -> LinkedPerimeter, for the keys that name a perimeter."""

    def control_perimeters(self, control_ids: Sequence[int]) -> list:
        """The LinkedPerimeters the controls are deployed in: new evidence's scope when none is given."""

    def entries_of(self, requirement_ids: Sequence[int], control_ids: Sequence[int]) -> dict:
        """expected evidence id -> requirement id, for the items given and the items the controls are mapped to."""


class DatabaseLookup:
    """`EvidenceLookup` by id, one query per kind of fact."""

    def __init__(self, session: Session):
        self.session = session

    def find_user(self, key) -> Optional[User]:
        return self.session.get(User, key)

    def find_controls(self, keys: Sequence) -> dict:
        if not keys:
            return {}
        rows = self.session.exec(select(Control.id, Control.ref, Control.status).where(Control.id.in_(keys)))
        return {id_: LinkedControl(id_, ref, status) for id_, ref, status in rows}

    def find_requirements(self, keys: Sequence) -> dict:
        if not keys:
            return {}
        rows = self.session.exec(select(Requirement.id, Requirement.ref).where(Requirement.id.in_(keys)))
        return {id_: LinkedRequirement(id_, ref) for id_, ref in rows}

    def find_perimeters(self, keys: Sequence) -> dict:
        if not keys:
            return {}
        rows = self.session.exec(select(Perimeter.id, Perimeter.code).where(Perimeter.id.in_(keys)))
        return {id_: LinkedPerimeter(id_, code) for id_, code in rows}

    def control_perimeters(self, control_ids: Sequence[int]) -> list:
        return control_perimeters(self.session, control_ids)

    def entries_of(self, requirement_ids: Sequence[int], control_ids: Sequence[int]) -> dict:
        return entries_of(self.session, requirement_ids, control_ids)


def control_perimeters(session: Session, control_ids: Sequence[int]) -> list:
    if not control_ids:
        return []
    rows = session.exec(select(Perimeter.id, Perimeter.code).join(ControlPerimeter, ControlPerimeter.perimeter_id == Perimeter.id)
                        .where(ControlPerimeter.control_id.in_(list(control_ids))).distinct().order_by(Perimeter.code))
    return [LinkedPerimeter(id_, code) for id_, code in rows]


def entries_of(session: Session, requirement_ids: Sequence[int], control_ids: Sequence[int]) -> dict:
    mapped = select(ControlRequirement.requirement_id).where(ControlRequirement.control_id.in_(list(control_ids) or [-1]))
    found = {}
    for requirement_id, entries in session.exec(select(Requirement.id, Requirement.expected_evidence).where(
            Requirement.id.in_(list(requirement_ids) or [-1]) | Requirement.id.in_(mapped))):
        found.update({entry["id"]: requirement_id for entry in entries or []})
    return found


@dataclass(frozen=True)
class EvidenceDraft:
    """An evidence's fields as a person gives them, before `check_evidence`. `owner` (empty: the actor),
    `controls` and `requirements` hold references that the lookup resolves."""

    title: str
    kind: str = "record"
    description: str = ""
    owner: object = None
    classification: str = "internal"
    effective_date: Optional[date] = None
    valid_until: Optional[date] = None
    controls: tuple = ()
    requirements: tuple = ()
    perimeters: Optional[tuple] = None  # None: the perimeters its controls are deployed in
    answers: tuple = ()  # expected evidence ids ("12.6.c#2") of the linked items that it answers
    document_version: str = ""  # the document's own version ("2.3"), as its author numbers it
    renewal: str = ""  # RENEWAL_CADENCES for recurring evidence (a quarterly access review); "": none


@dataclass(frozen=True)
class CheckedEvidence:
    """Fields that passed `check_evidence`: the evidence's columns, its links by id and by ref, and the first
    version's address. Writers store them as they are."""

    values: dict  # title, kind, description, owner_id, classification, effective_date, valid_until, document_version, renewal
    control_ids: tuple = ()
    control_refs: tuple = ()
    requirement_ids: tuple = ()
    requirement_refs: tuple = ()
    perimeter_ids: tuple = ()
    perimeter_codes: tuple = ()
    answers: tuple = ()  # (requirement id, entry id)
    url: str = ""

    @property
    def title(self) -> str:
        return self.values["title"]


NO_SUCH_ITEM = N_("le référentiel évalué ne contient aucun point « %(ref)s »")  # ref=
MAX_DOCUMENT_VERSION = 40  # Evidence.document_version's column
NO_SCOPE = N_("dites pour quels périmètres cette preuve est valable : elle n’est liée à aucune mesure déployée "
              "dans l’un d’eux")
# The schemes a link may use unless the instance allows others (EVIDENCE_LINK_SCHEMES, e.g. an intranet without
# TLS): each door passes its app's setting.
DEFAULT_LINK_SCHEMES = ("https",)


def check_evidence(actor: User, draft: EvidenceDraft, lookup: EvidenceLookup, *, url: str = "", note: str = "",
                   kept_owner_id: Optional[int] = None, kept_control_ids: Collection[int] = (),
                   kept_kind: Optional[str] = None, collected: bool = False,
                   link_schemes: Sequence[str] = DEFAULT_LINK_SCHEMES) -> CheckedEvidence:
    """The rules on an evidence's fields, every problem at once (EvidenceInvalid); nothing is cut or replaced.

    `url` and `note` are the first version's, for new evidence. The owner and the controls an evidence already
    has (`kept_...`) are not judged again: a user disabled or a control retired since does not block editing the
    rest. Whatever is named anew must be usable. The kind `automated` is a collector's alone (`collected`: the
    collection service); automated evidence keeps it when edited (`kept_kind`), and only it has it."""
    problems: list[FieldProblem] = []

    def refuse(name: str, message: str | Message, at_fault=None, /, **params) -> None:
        """`at_fault`: the element of a list refused (FieldProblem.value); `params`: the message's parameters."""
        problems.append(FieldProblem(name, Message(message, **params) if isinstance(message, str) else message,
                                     at_fault))

    title = (draft.title or "").strip()
    if not title:
        refuse("title", N_("une preuve doit avoir un intitulé"))
    elif len(title) > MAX_TITLE:
        refuse("title", N_("l’intitulé dépasse %(n)s caractères"), n=MAX_TITLE)
    description = (draft.description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        refuse("description", N_("la description dépasse %(n)s caractères"), n=MAX_DESCRIPTION)
    if draft.kind not in EVIDENCE_KINDS:
        refuse("kind", N_("type de preuve « %(kind)s » inconnu ; les types sont : %(kinds)s"), kind=draft.kind,
               kinds=", ".join(HAND_MADE_KINDS))
    elif kept_kind == AUTOMATED_KIND and draft.kind != AUTOMATED_KIND:
        refuse("kind", N_("une preuve automatisée le reste : son collecteur la tient à jour ; pour une preuve faite "
                          "à la main, créez-en une autre"))
    elif draft.kind == AUTOMATED_KIND and not collected and kept_kind != AUTOMATED_KIND:
        refuse("kind", N_("le type « %(kind)s » est réservé aux collecteurs (commande evidence collect) : une preuve "
                          "déposée à la main prend un autre type (%(kinds)s)"), kind=AUTOMATED_KIND,
               kinds=", ".join(HAND_MADE_KINDS))
    if draft.classification not in CLASSIFICATIONS:
        refuse("classification", N_("classification « %(classification)s » inconnue ; les classifications sont : "
                                    "%(classifications)s"),
               classification=draft.classification, classifications=", ".join(CLASSIFICATIONS))
    document_version = (draft.document_version or "").strip()
    if len(document_version) > MAX_DOCUMENT_VERSION:
        refuse("document_version", N_("la version du document dépasse %(n)s caractères"), n=MAX_DOCUMENT_VERSION)
    renewal = (draft.renewal or "").strip()
    if renewal and renewal not in RENEWAL_CADENCES:
        refuse("renewal", N_("fréquence de renouvellement « %(cadence)s » inconnue ; les fréquences sont : "
                             "%(cadences)s"), cadence=renewal, cadences=", ".join(RENEWAL_CADENCES))
    if draft.effective_date and draft.valid_until and draft.valid_until < draft.effective_date:
        refuse("valid_until", N_("la date de fin de validité précède la date d’effet"))

    owner_id = actor.id
    if draft.owner not in (None, ""):
        user = lookup.find_user(draft.owner)
        if user is None:
            refuse("owner", N_("utilisateur inconnu"))
        elif not user.active and user.id != kept_owner_id:
            refuse("owner", N_("ce compte utilisateur est désactivé"))
        elif user.id != kept_owner_id and not can_own(user):
            refuse("owner", Message(NOT_AN_OWNER, name=user.name))
        elif actor.role == "contributor" and user.id != actor.id:
            refuse("owner", N_("un contributeur est le responsable de ses preuves : laissez le responsable vide ou "
                               "indiquez %(email)s"), email=actor.email)
        else:
            owner_id = user.id

    control_keys = list(dict.fromkeys(draft.controls))
    controls = lookup.find_controls(control_keys)
    for key in control_keys:
        control = controls.get(key)
        if control is None:
            refuse("controls", N_("aucune mesure « %(ref)s »"), key, ref=key)
        elif control.status == "retired" and control.id not in kept_control_ids:
            refuse("controls", N_("la mesure %(ref)s est retirée"), control.ref, ref=control.ref)
    requirement_keys = list(dict.fromkeys(draft.requirements))
    requirements = lookup.find_requirements(requirement_keys)
    for key in requirement_keys:
        if key not in requirements:
            refuse("requirements", NO_SUCH_ITEM, key, ref=key)
    linked = [controls[k] for k in control_keys if k in controls]
    items = [requirements[k] for k in requirement_keys if k in requirements]
    if draft.perimeters is None:
        scope = lookup.control_perimeters([c.id for c in linked])
    else:
        perimeter_keys = list(dict.fromkeys(draft.perimeters))
        found = lookup.find_perimeters(perimeter_keys)
        for key in perimeter_keys:
            if key not in found:
                refuse("perimeters", N_("aucun périmètre « %(code)s »"), key, code=key)
        scope = [found[k] for k in perimeter_keys if k in found]
    if not scope and not any(p.field in ("controls", "perimeters") for p in problems):
        # Valid nowhere, it would prove nothing: say so rather than store it (a refused control says it already).
        refuse("perimeters", NO_SCOPE)
    entries = lookup.entries_of([r.id for r in items], [c.id for c in linked]) if draft.answers else {}
    for entry in dict.fromkeys(draft.answers):
        if entry not in entries:
            refuse("answers", N_("« %(entry)s » n’est pas une preuve attendue des points que cette preuve étaye "
                                 "(directement ou par ses mesures)"), entry, entry=entry)
    problems += version_problems(url, note, link_schemes)
    if problems:
        raise EvidenceInvalid(problems)
    return CheckedEvidence(
        values={"title": title, "kind": draft.kind, "description": description, "owner_id": owner_id,
                "classification": draft.classification, "effective_date": draft.effective_date,
                "valid_until": draft.valid_until, "document_version": document_version, "renewal": renewal},
        control_ids=tuple(c.id for c in linked), control_refs=tuple(c.ref for c in linked),
        requirement_ids=tuple(r.id for r in items), requirement_refs=tuple(r.ref for r in items),
        perimeter_ids=tuple(p.id for p in scope), perimeter_codes=tuple(p.code for p in scope),
        answers=tuple((entries[e], e) for e in dict.fromkeys(draft.answers)),
        url=(url or "").strip(),
    )



def version_problems(url: str = "", note: str = "",
                     link_schemes: Sequence[str] = DEFAULT_LINK_SCHEMES) -> list[FieldProblem]:
    """A version's address (link evidence points at the provider's own systems; the app stores the address and
    never fetches it) and note. A plain `http://` address is refused by default: whoever follows it (an
    evaluator) could be handed another page on the way."""
    problems = []
    url = (url or "").strip()
    if url:
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = None
        if len(url) > MAX_URL:
            problems.append(FieldProblem("url", Message(N_("l’adresse dépasse %(n)s caractères"), n=MAX_URL)))
        elif parts is None or parts.scheme.lower() not in link_schemes:
            problems.append(FieldProblem("url", Message(N_("« %(url)s » : seules les adresses %(schemes)s sont "
                                                          "admises"), url=url[:80],
                                                        schemes=", ".join(f"{s}://" for s in link_schemes))))
        elif not parts.netloc:
            problems.append(FieldProblem("url", Message(N_("« %(url)s » n’est pas une adresse web complète "
                                                          "(p. ex. https://intranet.example/doc)"), url=url[:80])))
    if len((note or "").strip()) > MAX_NOTE:
        problems.append(FieldProblem("note", Message(N_("la note dépasse %(n)s caractères"), n=MAX_NOTE)))
    return problems


def check_url(url: str, link_schemes: Sequence[str] = DEFAULT_LINK_SCHEMES) -> str:
    """The address, stripped, or EvidenceInvalid naming the url field."""
    if problems := version_problems(url, link_schemes=link_schemes):
        raise EvidenceInvalid(problems)
    return url.strip()


def assessed_requirement_ids(session: Session, refs: Sequence[str]) -> list[int]:
    """Ids of items of the assessed referential, given by ref as a person types them (the evidence form)."""
    refs = list(dict.fromkeys(refs))
    found = dict(session.exec(
        select(Requirement.ref, Requirement.id).join(Framework, Framework.id == Requirement.framework_id)
        .where(Framework.assessed, Requirement.ref.in_(refs or ["-"]))
    ).all())
    if unknown := [r for r in refs if r not in found]:
        raise EvidenceInvalid([FieldProblem("requirements", Message(NO_SUCH_ITEM, ref=r), r) for r in unknown])
    return [found[r] for r in refs]
