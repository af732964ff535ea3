"""A perimeter's computed status (services.gaps), kept per process and keyed by (database, perimeter, day, data
version): the home page, the dashboards, the API and the dossier ask for it on every view, and it only changes
when something is written. Every writing transaction bumps the data version as it commits (data.database), on
whichever node it runs, so that a cached status is never served once anything changed; reading the version costs
one query.

A cached status outlives the session it was read in. It is therefore computed in a session of its own, on the
committed data, which is then closed: its rows are detached with every column loaded (the models have no
relationships to lazy-load), no request's session holds them, so nobody can expire or change them. They are read
only. A session with uncommitted writes of its own computes afresh, in itself, and caches nothing.

A referential's items are kept the same way (`items`), keyed by the referentials' own version, which only a
transaction writing a referential bumps: they outlive every other write."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from datetime import date
from typing import Callable

from sqlmodel import Session, select

from evidence.data import database
from evidence.data.models import Perimeter, Requirement

SIZE = 32  # statuses kept per process (each holds its perimeter's 278 items): every perimeter, today and yesterday
_cache: OrderedDict = OrderedDict()  # (database, perimeter id, day) -> (data version, status): only the newest
_lock = threading.Lock()  # a threaded worker's requests share the cache
stats = {"hits": 0, "misses": 0}  # for the tests and the curious


def status(session: Session, perimeter: Perimeter, today: date, compute: Callable):
    """`compute(session, perimeter, today)`, from the cache when nothing was written since it was computed."""
    version = None if database.has_pending_writes(session) else database.data_version(session)
    if version is None:  # our own writes are not committed (or the session keeps no version): as it stands
        return compute(session, perimeter, today)
    engine = session.bind
    key = _key(session, perimeter, today)
    with _lock:
        kept_version, cached = _cache.get(key, (None, None))
        if kept_version == version:
            _cache.move_to_end(key)
            stats["hits"] += 1
        else:
            cached = None
    if cached is None:
        # Read after the version: what it computes is at least as new as the version it is kept under.
        with Session(engine, expire_on_commit=False) as own:
            committed = own.get(Perimeter, perimeter.id)
            if committed is None:  # deleted since the caller read it: nothing to keep
                return compute(session, perimeter, today)
            cached = compute(own, committed, today)
        with _lock:
            stats["misses"] += 1
            # A status of an older version is never read again: it is replaced, not kept beside (a slower
            # request computing an older version leaves a newer one in place).
            if _cache.get(key, (-1, None))[0] <= version:
                _cache[key] = (version, cached)
                _cache.move_to_end(key)
            while len(_cache) > SIZE:
                _cache.popitem(last=False)
    # The caller's own perimeter (the one it may go on to change) and its own list of rows.
    return replace(cached, perimeter=perimeter, rows=list(cached.rows))


def kept(session: Session, perimeter: Perimeter, today: date):
    """The status kept for the data as it stands, or None (nothing is computed)."""
    version = None if database.has_pending_writes(session) else database.data_version(session)
    if version is None:
        return None
    with _lock:
        kept_version, cached = _cache.get(_key(session, perimeter, today), (None, None))
    if kept_version != version:
        return None
    return replace(cached, perimeter=perimeter, rows=list(cached.rows))


def _key(session: Session, perimeter: Perimeter, today: date) -> tuple:
    return session.bind.url.render_as_string(hide_password=True), perimeter.id, today


_items: dict = {}  # (database, framework id) -> (referential version, its items in order)


def items(session: Session, framework_id: int) -> list[Requirement]:
    """The framework's items in their order, kept per process while no referential is written: every status and
    statement of applicability starts from them, and decoding their rows (texts and checklists) cost as much as
    the rest of a perimeter's status put together. Read only, detached like a cached status's rows."""
    version = None if database.has_pending_writes(session) else database.data_version(session, database.REFERENTIAL)
    query = select(Requirement).where(Requirement.framework_id == framework_id).order_by(Requirement.order)
    if version is None:
        return list(session.exec(query))
    key = (session.bind.url.render_as_string(hide_password=True), framework_id)
    with _lock:
        kept_version, kept = _items.get(key, (None, None))
    if kept_version == version:
        return kept
    with Session(session.bind, expire_on_commit=False) as own:  # read after the version, like a status
        kept = list(own.exec(query))
    with _lock:
        if _items.get(key, (-1, None))[0] <= version:
            _items[key] = (version, kept)
    return kept


def clear() -> None:
    with _lock:
        _cache.clear()
        _items.clear()
