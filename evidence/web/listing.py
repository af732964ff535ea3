"""Pagination for list pages: one count query and one page query, whatever the number of rows."""
from __future__ import annotations

from dataclasses import dataclass

from flask import request
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import select

from evidence.core.text import plain_id

PAGE_SIZE = 50


def id_arg(name: str):
    """An id from the query string, or None for anything that is not a plain, storable number."""
    return plain_id(request.args.get(name, ""))


def page_number() -> int:
    return min(max(request.args.get("page", 1, type=int), 1), 100_000)


@dataclass
class Page:
    rows: list
    total: int
    number: int
    size: int

    @property
    def pages(self) -> int:
        return max((self.total + self.size - 1) // self.size, 1)

    @property
    def args(self) -> dict:
        """The current filters, to carry into the pager's links."""
        return {k: v for k, v in request.args.items() if k != "page" and v}


def paginate(session, query, size: int = PAGE_SIZE) -> Page:
    number = page_number()
    total = session.exec(select(func.count()).select_from(query.order_by(None).subquery())).one()
    rows = session.exec(query.offset((number - 1) * size).limit(size)).all()
    return Page(rows=list(rows), total=total, number=number, size=size)


def by_owner(query, column):
    """The list pages' owner filter: ?owner=me or ?owner=<user id>."""
    if request.args.get("owner") == "me":
        return query.where(column == current_user.id)
    if (owner := id_arg("owner")) is not None:
        return query.where(column == owner)
    return query


def filter_choices(session) -> dict:
    """What the list pages' owner and perimeter filters offer."""
    from evidence.data.models import Perimeter
    from evidence.services import reach
    from evidence.services.users import possible_owners
    from evidence.web import current_scope

    return {
        "owners": possible_owners(session),
        "perimeters": session.exec(reach.only_reachable_perimeters(select(Perimeter), current_scope())
                                   .order_by(Perimeter.code)).all(),
    }
