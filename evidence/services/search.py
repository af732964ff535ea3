"""Finding what a person picks (an item of the referential, a control, evidence, an owner) from a few letters of
its ref or a few words of its title, accents and case aside: the searches behind every picker, with JavaScript
(the JSON endpoint) or without (the page shown again with the matches).

The candidates are read in a few columns and matched in Python with `evidence.core.text`: the same folding the
rest of the product uses, on SQLite and PostgreSQL alike. A query is cut to MAX_QUERY characters and a search
returns at most MAX_LIMIT choices, so that neither a long query nor a short one costs much.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterable, Optional, Sequence

from sqlalchemy import or_
from sqlmodel import Session, select

from evidence.core.text import fold, matches, plain_id, sort_key
from evidence.data.models import Control, Evidence, Framework, Requirement, User
from evidence.services.controls import can_edit_control
from evidence.services.users import possible_owners

KINDS = ("requirements", "controls", "evidence", "owners", "readers")
MAX_QUERY = 100  # characters of a query that are read: no ref or title needs more
DEFAULT_LIMIT = 20  # choices a picker shows at once; more means "refine your search"
MAX_LIMIT = 50


@dataclass(frozen=True)
class Choice:
    """One thing a picker offers. `ref` is what a person recognises it by (the item's, control's or evidence's
    ref; the owner's e-mail), `label` its title (or name), `label_en` the English title where the referential has
    one, `status` the internal code the page puts into words."""

    id: int
    ref: str
    label: str
    label_en: str = ""
    status: str = ""

    def value(self, key: str) -> str:
        """What the form posts for this choice: its id or its ref."""
        return str(self.id) if key == "id" else self.ref


@dataclass(frozen=True)
class Found:
    choices: list[Choice]
    more: bool  # some matches were left out: the query should be more precise


def clean_query(query: Optional[str]) -> str:
    return " ".join((query or "")[:MAX_QUERY].split())


def bounded_limit(limit: Optional[int]) -> int:
    return DEFAULT_LIMIT if limit is None else max(1, min(int(limit), MAX_LIMIT))


def rank(query: str, ref: str, *texts: str) -> Optional[int]:
    """How well a candidate answers `query`: 0 its ref exactly, 1 a ref starting so, 2 every word found in its ref
    or texts; None when it does not match. An empty query matches everything equally."""
    wanted = fold(query)
    if not wanted:
        return 2
    folded = fold(ref)
    if folded == wanted:
        return 0
    if folded.startswith(wanted):
        return 1
    return 2 if matches(query, ref, *texts) else None


def pick(candidates: Iterable[Choice], query: str, limit: Optional[int] = None,
         exclude: Collection[str] = ()) -> Found:
    """The candidates that match `query`, best first and otherwise in the order given; at most `limit`."""
    query, limit = clean_query(query), bounded_limit(limit)
    ranked = []
    for position, choice in enumerate(candidates):
        if choice.ref in exclude or str(choice.id) in exclude:
            continue
        score = rank(query, choice.ref, choice.label, choice.label_en)
        if score is not None:
            ranked.append((score, position, choice))
    ranked.sort(key=lambda entry: entry[:2])
    return Found([choice for _score, _position, choice in ranked[:limit]], len(ranked) > limit)


# --- Candidates: what a role may pick, in the order a list shows them ----------------------------------------


def requirement_candidates(session: Session) -> list[Choice]:
    """Items of the assessed referentials (the ones evidence and controls are mapped to), in catalogue order."""
    rows = session.exec(
        select(Requirement.id, Requirement.ref, Requirement.title, Requirement.title_en, Requirement.kind)
        .join(Framework, Framework.id == Requirement.framework_id)
        .where(Framework.assessed).order_by(Framework.key, Requirement.order)
    ).all()
    return [Choice(id_, ref, title or "", title_en or "", kind) for id_, ref, title, title_en, kind in rows]


def control_candidates(session: Session, actor: User, *, editable: bool = False,
                       keep: Collection[int] = ()) -> list[Choice]:
    """Live controls by ref (retired ones only when `keep` names them: what an object is linked to already);
    `editable`: only those `actor` may change (a contributor's own), for mapping them."""
    controls = session.exec(select(Control)).all()
    chosen = [c for c in controls if (c.status != "retired" or c.id in keep)
              and (not editable or can_edit_control(actor, c))]
    return [Choice(c.id, c.ref, c.title, status=c.status) for c in sorted(chosen, key=lambda c: sort_key(c.ref))]


def evidence_candidates(session: Session) -> list[Choice]:
    """Evidence by its ref and title only: its metadata, which everyone sees. Never its description, notes or
    addresses, which are need-to-know (services.need_to_know): a search on them would tell what they hold."""
    rows = session.exec(select(Evidence.id, Evidence.ref, Evidence.title, Evidence.status).order_by(Evidence.ref)).all()
    return [Choice(id_, ref, title, status=status) for id_, ref, title, status in rows]


def owner_candidates(session: Session, keep_id: Optional[int] = None) -> list[Choice]:
    """The people who can own (never an auditor), by name as a French reader orders names."""
    return [Choice(u.id, u.email, u.name, status=u.role) for u in possible_owners(session, keep_id)]


def reader_candidates(session: Session, keep: Collection[int] = ()) -> list[Choice]:
    """The people who can be named as readers of evidence: every active user (auditors too), and those named
    already (`keep`) whatever they have become; by name."""
    people = session.exec(select(User).where(or_(User.active, User.id.in_(list(keep) or [-1])))).all()
    return [Choice(u.id, u.email, u.name, status=u.role) for u in sorted(people, key=lambda u: (sort_key(u.name), u.email))]


def candidates(session: Session, actor: User, kind: str, *, editable: bool = False,
               keep: Collection[int] = ()) -> list[Choice]:
    if kind == "requirements":
        return requirement_candidates(session)
    if kind == "controls":
        return control_candidates(session, actor, editable=editable, keep=keep)
    if kind == "evidence":
        return evidence_candidates(session)
    if kind == "owners":
        return owner_candidates(session, next(iter(keep), None))
    if kind == "readers":
        return reader_candidates(session, keep)
    raise ValueError(f"unknown picker kind {kind!r}")


def search(session: Session, actor: User, kind: str, query: str, *, limit: Optional[int] = None,
           exclude: Collection[str] = (), editable: bool = False) -> Found:
    """What a picker of `kind` offers for `query`."""
    return pick(candidates(session, actor, kind, editable=editable), query, limit, exclude)


def chosen(session: Session, actor: User, kind: str, values: Sequence[str], key: str = "ref", *,
           editable: bool = False) -> list[Choice]:
    """The choices `values` name (ids or refs, as the form posted them), in the order given; a value that names
    nothing the role may pick is dropped (the service refuses it if it is saved)."""
    wanted = [str(v) for v in values if v not in (None, "")]
    keep = [i for i in map(plain_id, wanted) if i is not None] if key == "id" else []
    pool = candidates(session, actor, kind, editable=editable, keep=keep)
    by_value = {c.value(key): c for c in pool}
    if key == "ref":  # refs as a person types them: "12.4.A" is 12.4.a
        by_value.update({fold(c.ref): c for c in pool if fold(c.ref) not in by_value})
    found = [by_value.get(v) or by_value.get(fold(v)) for v in dict.fromkeys(wanted)]
    return [c for c in found if c is not None]
