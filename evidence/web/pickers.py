"""Pickers: choosing items, controls, evidence and owners by searching rather than typing a ref.

One mechanism for every form (templates/web/_picker.html): without JavaScript the picker's search button posts
the form to the page it is on and the page comes back with the matches as checkboxes (or radios) in the same form,
its other values kept and nothing saved (by POST, so that the form's CSRF token never lands in an address, a
history or an access log); with JavaScript, static/js/picker.js asks the JSON endpoints below as the user types. Both
read `evidence.services.search`, so the two ways find the same things. An endpoint answers only the roles that
fill a form with it, and only what the role may pick.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Collection, Optional, Sequence

from flask import Blueprint, jsonify, request, url_for
from flask_login import current_user

from evidence import context as db
from evidence.core.access import access
from evidence.core.vocabulary import COMPLIANCE_ROLES, WRITER_ROLES
from evidence.presentation import labels
from evidence.services import search
from evidence.web import select_locale

bp = Blueprint("pickers", __name__, url_prefix="/pickers")

# The words a status code is shown with, per kind of choice (an owner is shown with his e-mail instead).
STATUS_WORDS = {"requirements": labels.KIND, "controls": labels.CONTROL_STATUS, "evidence": labels.EVIDENCE_STATUS,
                "readers": labels.ROLE}


@dataclass
class Picker:
    """What the picker macro renders: the chosen values (checked) and the matches of the query (not checked)."""

    kind: str
    name: str  # the form field's name: every checkbox/radio posts under it
    multiple: bool
    key: str  # "id" or "ref": what a choice posts
    query: str
    selected: list[search.Choice]
    results: list[search.Choice]
    more: bool
    source: str  # the JSON endpoint picker.js asks
    browse: bool  # an empty query lists the first choices (owners: all of them)
    action: str  # where the search button posts the form: the page the picker is on
    errors: list = field(default_factory=list)

    def value(self, choice: search.Choice) -> str:
        return choice.value(self.key)

    def label(self, choice: search.Choice) -> str:
        return choice.label_en if select_locale() == "en" and choice.label_en else choice.label

    def detail(self, choice: search.Choice) -> str:
        return detail(self.kind, choice)


def searching() -> bool:
    """Whether this POST is a picker's search sent without JavaScript (its button is named `search`): the view
    shows its form again as posted, with the matches, and saves nothing."""
    return request.method == "POST" and bool(request.form.get("search"))


def here() -> str:
    """The page the picker is on, its query string kept (e.g. /controls/new?requirement=12): a search posts there."""
    query = request.query_string.decode("latin-1")
    return request.path + ("?" + query if query else "")


def detail(kind: str, choice: search.Choice) -> str:
    if kind == "owners":
        return choice.ref
    words = STATUS_WORDS.get(kind, {})
    return str(words[choice.status]) if choice.status in words else ""


def build(kind: str, name: str, values: Sequence, *, query: Optional[str] = None, multiple: bool = True,
          key: str = "ref", browse: bool = False, editable: bool = False, exclude: Collection[str] = (),
          errors=(), action: Optional[str] = None) -> Picker:
    """A picker of `kind` for the form field `name`, with `values` chosen; `query` (default: the page's
    posted `q_<name>` field) is searched on the server, for the page shown without JavaScript."""
    session = db.get_session()
    query = search.clean_query(request.form.get(f"q_{name}", "") if query is None else query)
    selected = search.chosen(session, current_user, kind, [str(v) for v in values or ()], key, editable=editable)
    if not multiple:
        selected = selected[:1]
    taken = {c.value(key) for c in selected} | {str(v) for v in exclude}
    found = (search.search(session, current_user, kind, query, exclude=taken, editable=editable)
             if query or browse else search.Found([], False))
    params = {"editable": "1"} if editable else {}
    if browse:
        params["browse"] = "1"
    if exclude:
        params["exclude"] = ",".join(str(v) for v in exclude)
    return Picker(kind, name, multiple, key, query, selected, found.choices, found.more,
                  url_for(f"pickers.{kind}", **params), browse, action or here(), list(errors))


def _answer(kind: str, *, editable: bool = False):
    """The JSON a picker asks for: the matches of `q` (none for an empty query unless `browse`)."""
    args = request.args
    query = search.clean_query(args.get("q", ""))
    try:
        limit = int(args.get("limit", "")[:3])
    except ValueError:
        limit = None
    exclude = {v for v in args.get("exclude", "")[:2000].split(",") if v}
    if query or args.get("browse"):
        found = search.search(db.get_session(), current_user, kind, query, limit=limit, exclude=exclude,
                              editable=editable)
    else:
        found = search.Found([], False)
    locale = select_locale()
    results = [{
        "id": c.id, "ref": c.ref, "label": c.label_en if locale == "en" and c.label_en else c.label,
        "detail": detail(kind, c),
    } for c in found.choices]
    return jsonify({"query": query, "results": results, "more": found.more})


@bp.route("/requirements")
@access(*WRITER_ROLES)
def requirements():
    return _answer("requirements")


@bp.route("/controls")
@access(*WRITER_ROLES)
def controls():
    # To map a control, only the controls the user may change (a contributor's own) are offered.
    return _answer("controls", editable=bool(request.args.get("editable")))


@bp.route("/evidence")
@access(*WRITER_ROLES)
def evidence():
    return _answer("evidence")


@bp.route("/readers")
@access(*WRITER_ROLES)
def readers():
    # The people an owner (or a manager) may name as readers of classified evidence: anyone active.
    return _answer("readers")


@bp.route("/owners")
@access(*COMPLIANCE_ROLES)
def owners():
    # Only managers choose an owner: a contributor's controls and evidence are his own.
    return _answer("owners")
