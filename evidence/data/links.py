"""Link tables (control x perimeter, evidence x control, ...) set to exactly what a form or a row says."""
from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, select


def replace_links(session: Session, model, owner_column, owner_id: int, target_column, wanted) -> bool:
    """Make a link table hold exactly `wanted` targets for one owner (e.g. the perimeters of a control);
    True when that changed anything."""
    wanted = set(wanted)
    current = set(session.exec(select(target_column).where(owner_column == owner_id)))
    for target in wanted - current:
        session.add(model(**{owner_column.key: owner_id, target_column.key: target}))
    if current - wanted:
        session.execute(delete(model).where(owner_column == owner_id, target_column.in_(current - wanted)))
    return wanted != current
