"""What every API view uses: who calls (actor, token, scope), the reader's language, pagination, ETag/If-Match.

    from evidence.api.common import actor, scope, paginate, set_etag, expected_version
"""
from __future__ import annotations

from typing import Optional

from flask import g, request
from sqlalchemy import func
from sqlmodel import select

from evidence.api.errors import OUT_OF_SCOPE, STALE, Problem, request_locale, say  # noqa: F401  (re-exported)
from evidence.core.errors import N_
from evidence.core.rules.token_scope import UNLIMITED, PerimeterScope
from evidence.data.models import User


def actor() -> User:
    """The account the call acts as (a person, or the token's service account): what services are given."""
    return g.api_token.user


def token_name() -> str:
    return g.api_token.token.name


def scope() -> PerimeterScope:
    """The perimeters the token reaches (UNLIMITED when it names none)."""
    use = g.get("api_token")
    return use.scope if use is not None else UNLIMITED


def role() -> str:
    """The caller's role (his account's): what he sees of work in progress (rules.evaluation)."""
    return actor().role


def require_reach(perimeter_ids, *, not_found: Problem) -> None:
    """Reads: an object beyond the token's perimeters answers as if it did not exist (404, `not_found`)."""
    if not scope().reaches(perimeter_ids):
        raise not_found


def require_write_scope(session, perimeter_ids, *, what: str) -> None:
    """Writes: refuse (403, naming the perimeter) an object, or a change, that reaches beyond the token's
    perimeters. `perimeter_ids`: the perimeters the object belongs to or the change names."""
    from evidence.data.models import Perimeter

    current = scope()
    if not current.limited:
        return
    ids = set(perimeter_ids)
    outside = current.outside(ids)
    if outside or not ids:
        codes = [p.code for p in session.exec(select(Perimeter).where(Perimeter.id.in_(outside or [-1])))]
        if codes:
            raise Problem(403, N_("%(what)s : le périmètre %(codes)s est hors de la portée de ce jeton d’API"),
                          type=OUT_OF_SCOPE, what=what, codes=", ".join(sorted(codes)))
        raise Problem(403, N_("%(what)s : ce jeton d’API est limité à certains périmètres ; nommez-en un qu’il "
                              "atteint"), type=OUT_OF_SCOPE, what=what, field="perimeters")


# --- documentation ---------------------------------------------------------------------------------------


def answers_problem(blp, status: int, description: str):
    """Document an error answer of a view: application/problem+json (ProblemSchema), with what it means here."""
    from evidence.api.errors import PROBLEM_JSON
    from evidence.api.schemas import ProblemSchema

    return blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_JSON, description=description)


# --- pagination -------------------------------------------------------------------------------------------


def paginate(session, query, args: dict) -> dict:
    """One count and one page query, whatever the number of rows: the envelope page_of() describes, its items the
    query's rows (to be turned into the item schema's objects by the caller)."""
    page, per_page = args.get("page", 1), args.get("per_page", 50)
    total = session.exec(select(func.count()).select_from(query.order_by(None).subquery())).one()
    rows = session.exec(query.offset((page - 1) * per_page).limit(per_page)).all()
    return {"items": list(rows), "page": page, "per_page": per_page, "total": total,
            "pages": max((total + per_page - 1) // per_page, 1)}


# --- ETag / If-Match ----------------------------------------------------------------------------------------

IF_MATCH = {"in": "header", "name": "If-Match", "required": True,
            "schema": {"type": "string", "pattern": "^(\\*|(W/)?\"[0-9]{1,9}\")$"},
            "description": "the ETag read with the resource (\"3\"): the change is refused (412) if another was "
                           "made since; missing: 428"}
ETAG_HEADER = {"ETag": {"description": "the resource's version, \"<version>\"", "schema": {"type": "string"}}}


def etag(obj) -> str:
    return f'"{obj.version}"'


def set_etag(response, obj):
    response.headers["ETag"] = etag(obj)
    return response


def expected_version() -> Optional[int]:
    """The version If-Match names, for the service's `expected_version` (its check_version refuses a stale one,
    which answers 412). Missing: 428. `*`: any version (the client opts out of the check)."""
    if not request.headers.get("If-Match"):
        raise Problem(428)
    if request.if_match.star_tag:
        return None
    values = request.if_match.as_set(include_weak=True)
    if len(values) != 1 or not next(iter(values)).isdigit() or len(next(iter(values))) > 9:
        raise Problem(412, N_("If-Match : l’ETag « %(value)s » ne correspond à aucune version de cette "
                              "ressource"), type=STALE, value=request.headers.get("If-Match", "")[:100])
    return int(next(iter(values)))
