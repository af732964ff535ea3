"""A perimeter's computed status (services.gaps), kept per process and keyed by (database, perimeter, day, data
version): the home page, the dashboards, the API and the dossier ask for it on every view, and it only changes
when something is written. Every writing transaction bumps the data version as it commits (data.database), on
whichever node it runs, so that a cached status is never served once anything changed; reading the version costs
one query. A status kept at an older version is brought up to date rather than computed whole when every version
since recorded what it reached item by item (data.changes): only those items are computed again.

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
from typing import Callable, Optional

from sqlmodel import Session, select

from evidence.data import database
from evidence.data.models import Perimeter, Requirement

stats = {"hits": 0, "misses": 0, "updates": 0}  # statuses, for the tests and the curious


class _Kept:
    """Values computed from the committed data, each kept under the version it was computed at, a few at most
    (least recently used go first). Only the newest version of a key is kept: an older one is never read again,
    and a slower request that computed an older version leaves a newer one in place."""

    def __init__(self, size: int):
        self._values: OrderedDict = OrderedDict()  # key -> (version, value)
        self._size = size
        self._lock = threading.Lock()  # a threaded worker's requests share it

    def get(self, key: tuple, version: int):
        with self._lock:
            kept_version, value = self._values.get(key, (None, None))
            if kept_version != version:
                return None
            self._values.move_to_end(key)
            return value

    def latest(self, key: tuple):
        """(version, value) of the newest kept for `key`, whatever its version, or None."""
        with self._lock:
            return self._values.get(key)

    def put(self, key: tuple, version: int, value) -> None:
        with self._lock:
            if self._values.get(key, (-1, None))[0] <= version:
                self._values[key] = (version, value)
                self._values.move_to_end(key)
            while len(self._values) > self._size:
                self._values.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


_statuses = _Kept(32)  # (database, perimeter id, day): every perimeter, today and yesterday (278 items each)
_items = _Kept(8)  # (database, framework id): a referential's items in order
_reaches = _Kept(8)  # (database, older version): what the versions since reached, by the newer version


def _committed_version(session: Session, row: int = database.DATA):
    """The version the session's committed data is at, or None: its own writes are not committed (it must read
    as it stands), or the session keeps no version."""
    return None if database.has_pending_writes(session) else database.data_version(session, row)


def _changes(session: Session, older: int, version: int):
    """database.changes_between, read once for every perimeter a request brings from `older` to `version`."""
    key = (_database(session), older)
    reach = _reaches.get(key, version)
    if reach is None:
        reach = database.changes_between(session, older, version)
        if reach is not None:
            _reaches.put(key, version, reach)
    return reach


def _database(session: Session) -> str:
    return session.bind.url.render_as_string(hide_password=True)


def status(session: Session, perimeter: Perimeter, today: date, compute: Optional[Callable],
           update: Optional[Callable] = None):
    """`compute(session, perimeter, today)`, from the cache when nothing was written since it was computed.

    With `update`, a status kept at an older version is brought up to date by `update(session, perimeter, kept
    status, reach)`, given what the versions since reached (data.changes.Reach, never everything), rather than
    computed whole; it returns the new status. With `compute` None, nothing is computed whole: None then."""
    version = _committed_version(session)
    if version is None:
        return compute(session, perimeter, today) if compute else None
    key = (_database(session), perimeter.id, today)
    cached = _statuses.get(key, version)
    if cached is not None:
        stats["hits"] += 1
        return _for_caller(cached, perimeter)
    older = _statuses.latest(key) if update is not None else None
    if older is not None and older[0] >= version:  # kept by a request that read a newer version than this one
        older = None
    if older is None and compute is None:
        return None
    # Read after the version: what it computes is at least as new as the version it is kept under.
    with Session(session.bind, expire_on_commit=False) as own:
        committed = own.get(Perimeter, perimeter.id)
        if committed is None:  # deleted since the caller read it: nothing to keep
            return compute(session, perimeter, today) if compute else None
        reach = _changes(own, older[0], version) if older else None
        if reach is not None and not reach.everything:
            cached = update(own, committed, older[1], reach)
            stats["updates"] += 1
        elif compute is None:
            return None
        else:
            cached = compute(own, committed, today)
            stats["misses"] += 1
    _statuses.put(key, version, cached)
    return _for_caller(cached, perimeter)


def kept(session: Session, perimeter: Perimeter, today: date, update: Optional[Callable] = None):
    """The status kept for the data as it stands, or with `update` one kept earlier brought up to date (see
    `status`); None when there is neither: nothing is computed whole."""
    return status(session, perimeter, today, None, update)


def _for_caller(cached, perimeter: Perimeter):
    # The caller's own perimeter (the one it may go on to change) and its own list of rows.
    return replace(cached, perimeter=perimeter, rows=list(cached.rows))


def items(session: Session, framework_id: int) -> list[Requirement]:
    """The framework's items in their order, kept per process while no referential is written: every status and
    statement of applicability starts from them, and decoding their rows (texts and checklists) cost as much as
    the rest of a perimeter's status put together. Read only, detached like a cached status's rows."""
    version = _committed_version(session, database.REFERENTIAL)
    query = select(Requirement).where(Requirement.framework_id == framework_id).order_by(Requirement.order)
    if version is None:
        return list(session.exec(query))
    key = (_database(session), framework_id)
    found = _items.get(key, version)
    if found is None:
        with Session(session.bind, expire_on_commit=False) as own:  # read after the version, like a status
            found = list(own.exec(query))
        _items.put(key, version, found)
    return found


def clear() -> None:
    _statuses.clear()
    _items.clear()
    _reaches.clear()
