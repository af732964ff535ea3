"""Stage 3 of an import, and the whole run: worker threads store the files, a sync thread makes each batch's files
durable, the main thread writes the rows in batches (`write_batch`), per row or all or nothing."""
from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterator, Optional, Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from evidence.core.errors import N_, EvidenceError, Message
from evidence.data import audit
from evidence.data.models import (
    Evidence,
    EvidenceAnswer,
    EvidenceControl,
    EvidencePerimeter,
    EvidenceRequirement,
    EvidenceVersion,
    User,
    utcnow,
)
from evidence.importer.manifest import DEFAULT_LIMITS, ManifestLimits, read_manifest
from evidence.importer.plan import (
    DONE,
    ERROR,
    FAILED,
    NEW_EVIDENCE,
    NEW_VERSION,
    NOT_IMPORTED,
    PLANNED,
    UNCHANGED,
    ImportResult,
    RowOutcome,
    files_to_hash,
    plan,
)
from evidence.importer.rows import (
    RowError,
    SourceFile,
    chunks,
    hash_file,
    load_known,
    open_source,
    validate_row,
)
from evidence.services.evidence import DEFAULT_LINK_SCHEMES, creation_details, version_details
from evidence.services.uploads import safe_filename, store_upload

BATCH_ROWS = 200  # rows per transaction in per-row mode ...
BATCH_SECONDS = 0.5  # ... or fewer when files are slow to store, so that an interruption loses little

Progress = Callable[[str, int, int, int, int], None]  # (stage, files done, files in all, bytes done, bytes in all)


def default_workers() -> int:
    # Storing a file is hashing and copying it (its fsync waits for the batch's sync): a thread per core, which
    # hashlib and file writes let run beside the database work.
    return max(2, min(4, os.cpu_count() or 1))


def run_import(session: Session, store, actor: User, manifest: Path, root: Path, *, dry_run: bool = False,
               atomic: bool = False, max_size: Optional[int] = None, origin: str = "",
               progress: Optional[Progress] = None, workers: Optional[int] = None,
               link_schemes: Sequence[str] = DEFAULT_LINK_SCHEMES,
               limits: ManifestLimits = DEFAULT_LIMITS) -> ImportResult:
    """Check every row, then (unless a dry run) import: per row, or all or nothing with `atomic`; a link may
    use the schemes `link_schemes` (EVIDENCE_LINK_SCHEMES), as on the web form.

    `origin` (e.g. "cli:alice") is recorded in each audit event beside the user the import is attributed to."""
    started = time.monotonic()
    try:
        root = Path(root).resolve(strict=True)
    except (OSError, RuntimeError):
        raise EvidenceError(N_("--root %(root)s : aucun dossier de ce nom"), root=root) from None
    if not root.is_dir():
        raise EvidenceError(N_("--root %(root)s : pas un dossier"), root=root)
    rows = read_manifest(manifest, limits)
    known = load_known(session, rows)
    session.commit()  # the snapshot is taken: hold no transaction while files are read (nothing is written)
    result = ImportResult(Path(manifest).name, [], dry_run=dry_run, atomic=atomic)
    checked = [(row, *validate_row(row, known, actor, root, max_size, link_schemes)) for row in rows]
    workers = workers or default_workers()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="import")
    try:
        checked = _hash_for_plan(pool, checked, known, progress)
        result.outcomes = plan(checked, known, _digest)
        if not dry_run and not (atomic and result.errors):
            if any(o.action in (NEW_EVIDENCE, NEW_VERSION) for o in result.outcomes):
                store.delete_orphan_temporaries()
            _apply(session, store, actor, result, pool, lookahead=8 * workers, max_size=max_size, origin=origin,
                   progress=progress)
    except KeyboardInterrupt:
        # Ctrl-C: the open batch rolls back; what is committed stays, and running the import again completes it.
        session.rollback()
        result.interrupted = True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # files being stored finish; queued ones never start
    if not dry_run:
        _settle(result)
    result.elapsed = time.monotonic() - started
    return result


def _hash_for_plan(pool, checked, known, progress):
    """Hash, in parallel, the files the plan compares; a file that cannot be read becomes the row's error."""
    sources = files_to_hash(checked, known)
    total = sum(s.size for s in sources)
    failed: dict[SourceFile, object] = {}  # the reason: the system's words, or a refusal
    done_bytes = 0
    for index, (source, future) in enumerate(zip(sources, [pool.submit(hash_file, s) for s in sources]), start=1):
        try:
            source.sha256 = future.result()
        except (OSError, EvidenceError) as error:
            failed[source] = getattr(error, "strerror", None) or error
        done_bytes += source.size
        if progress:
            progress("checking", index, len(sources), done_bytes, total)
    if not failed:
        return checked
    return [
        (row, None, [RowError(row.number, "file", entry.file.name,
                              Message(N_("illisible : %(reason)s"), reason=failed[entry.file]))])
        if entry is not None and entry.file in failed else (row, entry, errors)
        for row, entry, errors in checked
    ]


def _digest(source: SourceFile) -> str:
    """The file's hash, computed once (usually already, in parallel, by _hash_for_plan)."""
    if source.sha256 is None:
        source.sha256 = hash_file(source)
    return source.sha256


def _apply(session, store, actor, result, pool, *, lookahead, max_size, origin, progress):
    todo = [o for o in result.outcomes if o.action in (NEW_EVIDENCE, NEW_VERSION)]
    total_bytes = sum(o.source.size for o in todo if o.source)
    done_files = done_bytes = 0
    batch: list[tuple[RowOutcome, object]] = []
    batch_started = time.monotonic()
    writer = BatchWriter(session, actor, origin)
    synced: Optional[tuple[list, Future]] = None  # the batch closed last, and its files' sync (running)

    def close_batch(closed: list) -> None:
        # Its files are fsynced in the background while the batch before it (synced) is written.
        nonlocal synced
        sync = syncer.submit(_sync, blobs)
        if synced is not None:
            writer.write_each(_durable(*synced))
        synced = closed, sync

    # Blobs are made durable (fsynced) batch by batch, before the rows that name them commit.
    with store.batch() as blobs, ThreadPoolExecutor(1, thread_name_prefix="import-sync") as syncer, \
            closing(_stored_in_order(pool, blobs, todo, max_size, lookahead)) as stored:
        for outcome, blob, error in stored:
            done_files += 1
            if error is not None:
                outcome.status, outcome.errors = FAILED, [error]
                if result.atomic:
                    result.problem = Message(N_("la ligne %(row)s n’a pas pu être enregistrée"), row=outcome.number)
                    return
            else:
                if blob is not None:
                    result.files_stored += 1
                    result.bytes_stored += blob.size
                    done_bytes += outcome.source.size
                batch.append((outcome, blob))
            if progress:
                progress("importing", done_files, len(todo), done_bytes, total_bytes)
            if not result.atomic and (len(batch) >= BATCH_ROWS or time.monotonic() - batch_started > BATCH_SECONDS):
                close_batch(batch)
                batch, batch_started = [], time.monotonic()
        if not result.atomic:
            close_batch(batch)
            writer.write_each(_durable(*synced))
            return
        if (error := _sync(blobs)) is not None:
            result.problem = error
            return
    # Every file is stored: now every row, in one transaction.
    try:
        for start in range(0, len(batch), BATCH_ROWS):
            write_batch(session, actor, batch[start:start + BATCH_ROWS], origin)
        session.commit()
    except SQLAlchemyError as error:
        session.rollback()
        result.problem = Message(N_("erreur de la base de données : %(detail)s"), detail=_first_line(error))
        return
    for outcome, _blob in batch:
        outcome.status = DONE


def _durable(batch: list, sync: Future) -> list:
    """The batch once its files are durable; should that fail, its rows with a file fail and the others stay."""
    if (error := sync.result()) is None:
        return batch
    for outcome, blob in batch:
        if blob is not None:
            outcome.status, outcome.errors = FAILED, [error]
    return [(outcome, blob) for outcome, blob in batch if blob is None]


def _sync(blobs) -> Optional[Message]:
    try:
        blobs.sync()
    except (OSError, EvidenceError) as error:
        return _not_stored(error)
    return None


def _not_stored(error: Exception) -> Message:
    reason = error.strerror if isinstance(error, OSError) and error.strerror else error
    return Message(N_("le fichier n’a pas pu être enregistré : %(reason)s"), reason=reason)


def _first_line(error: Exception) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def _stored_in_order(pool, store, todo: list[RowOutcome], max_size,
                     lookahead: int) -> Iterator[tuple[RowOutcome, object, Optional[Message]]]:
    """(outcome, stored blob or None for a link, error or None) in manifest order, storing a few files ahead."""
    ahead: deque[tuple[RowOutcome, Optional[Future]]] = deque()
    pending = iter(todo)
    try:
        while True:
            while len(ahead) < lookahead and (outcome := next(pending, None)) is not None:
                source = outcome.source
                ahead.append((outcome, pool.submit(store_source, store, source, max_size) if source else None))
            if not ahead:
                return
            outcome, future = ahead.popleft()
            if future is None:
                yield outcome, None, None
                continue
            try:
                blob = future.result()
            except (OSError, EvidenceError) as error:
                yield outcome, None, _not_stored(error)
            else:
                yield outcome, blob, None
    finally:
        for _outcome, future in ahead:  # interrupted: do not start what is queued
            if future is not None:
                future.cancel()


def store_source(store, source: SourceFile, max_size):
    """Store a checked file as the evidence service stores an upload (worker threads call this)."""
    with open_source(source) as stream:
        return store_upload(store, stream, source.name, max_size)


class BatchWriter:
    """Per-row mode: a batch commits at once; should the database refuse it, each row is retried alone, so
    that only the row at fault fails (as if every row had committed on its own)."""

    def __init__(self, session: Session, actor: User, origin: str):
        self.session, self.actor, self.origin = session, actor, origin

    def write_each(self, batch: list) -> None:
        if not batch:
            return
        try:
            write_batch(self.session, self.actor, batch, self.origin)
            self.session.commit()
        except SQLAlchemyError as error:
            self.session.rollback()
            if len(batch) > 1:
                for item in batch:
                    self.write_each([item])
                return
            outcome = batch[0][0]
            outcome.status, outcome.errors = FAILED, [
                Message(N_("erreur de la base de données : %(detail)s"), detail=_first_line(error))]
            if outcome.action == NEW_EVIDENCE:
                outcome.ref = ""
            return
        for outcome, _blob in batch:
            outcome.status = DONE


def write_batch(session: Session, actor: User, batch: list, origin: str) -> None:
    """Insert the batch's rows in the open transaction; the caller commits.

    The rows and audit events are those `create_evidence` / `add_version` make, from fields `check_evidence`
    passed (written as they are). References and version numbers follow `next_ref` and the service's numbering:
    the highest id plus one, the evidence's highest version number plus one (read here, in the writing
    transaction)."""
    connection = session.connection()
    now = utcnow()
    author_id = actor.id
    new = [(o, b) for o, b in batch if o.action == NEW_EVIDENCE]
    versions = [(o, b) for o, b in batch if o.action == NEW_VERSION]

    evidence_ids: dict[RowOutcome, int] = {}
    if new:
        highest = connection.execute(select(func.max(Evidence.id))).scalar() or 0
        rows = []
        for offset, (outcome, _blob) in enumerate(new, start=1):
            outcome.ref = f"EV-{highest + offset:04d}"
            rows.append({
                "ref": outcome.ref, **outcome.entry.data.values, "status": "draft", "review_comment": "",
                "version": 1, "created_at": now, "updated_at": now,
            })
        # Matched by reference, not by order: asking for the rows' order makes SQLite run one INSERT per row.
        ids = dict(connection.execute(insert(Evidence).returning(Evidence.ref, Evidence.id), rows).all())
        evidence_ids = {o: ids[o.ref] for o, _b in new}
        control_rows = [{"evidence_id": evidence_ids[o], "control_id": c}
                        for o, _b in new for c in o.entry.data.control_ids]
        requirement_rows = [{"evidence_id": evidence_ids[o], "requirement_id": r}
                            for o, _b in new for r in o.entry.data.requirement_ids]
        perimeter_rows = [{"evidence_id": evidence_ids[o], "perimeter_id": p}
                          for o, _b in new for p in o.entry.data.perimeter_ids]
        answer_rows = [{"evidence_id": evidence_ids[o], "requirement_id": r, "entry_id": e}
                       for o, _b in new for r, e in o.entry.data.answers]
        for model, link_rows in ((EvidenceControl, control_rows), (EvidenceRequirement, requirement_rows),
                                 (EvidencePerimeter, perimeter_rows), (EvidenceAnswer, answer_rows)):
            if link_rows:
                connection.execute(insert(model), link_rows)

    state = {}  # evidence id -> [status before this batch, highest version number]
    if versions:
        ids = sorted({o.entry.evidence.id for o, _b in versions})
        for chunk in chunks(ids):
            for evidence_id, status, number in connection.execute(
                select(Evidence.id, Evidence.status, func.max(EvidenceVersion.number))
                .outerjoin(EvidenceVersion, EvidenceVersion.evidence_id == Evidence.id)
                .where(Evidence.id.in_(chunk)).group_by(Evidence.id, Evidence.status)
            ):
                state[evidence_id] = [status, number or 0]
        for outcome, _blob in versions:
            evidence_ids[outcome] = outcome.entry.evidence.id
        # Back to draft: what was approved was the earlier version (rules.status_after_new_version; the plan refused
        # a hand version of automated evidence, rules.hand_version_refusal, so every row here is hand-made and the
        # rule's answer is draft for all). `version` is the optimistic-locking counter.
        connection.execute(
            update(Evidence).where(Evidence.id.in_(ids))
            .values(status="draft", updated_at=now, version=Evidence.version + 1)
        )

    version_rows, events = [], []
    for outcome, blob in batch:
        evidence_id = evidence_ids[outcome]
        if outcome.action == NEW_EVIDENCE:
            number, status_before = 1, None
        else:
            status_before, number = state[evidence_id][0], state[evidence_id][1] + 1
            state[evidence_id] = ["draft", number]
        version = SimpleNamespace(
            evidence_id=evidence_id, number=number, author_id=author_id, created_at=now, note="",
            sha256=blob.sha256 if blob else None, size=blob.size if blob else None,
            storage_key=blob.key if blob else None, url=None if blob else outcome.entry.url,
            media_type=blob.media_type if blob else "text/uri-list",
            original_filename=safe_filename(outcome.source.name) if blob else "",
        )
        version_rows.append(vars(version))
        outcome.sha256 = version.sha256
        if outcome.action == NEW_EVIDENCE:
            events.append(("evidence.create", outcome.ref, creation_details(outcome.entry.data, version)))
        else:
            events.append(("evidence.version", outcome.ref, {**version_details(version), "status_before": status_before}))
    connection.execute(insert(EvidenceVersion), version_rows)
    for _action, _ref, details in events:
        if origin:
            details["via"] = origin
    audit.record_many(session, actor, [(action, Evidence.__tablename__, ref, details) for action, ref, details in events])
    session.flush()


def _settle(result: ImportResult) -> None:
    """Final statuses: unchanged rows are done, rows left planned (interrupted, or --atomic refused) are not
    imported, and a row unchanged because an earlier row brings the same is not imported if that row is not."""
    by_number = {o.number: o for o in result.outcomes}
    for outcome in result.outcomes:
        if outcome.status != PLANNED or outcome.action == ERROR:
            continue
        if outcome.action != UNCHANGED:
            outcome.status = NOT_IMPORTED
            if outcome.action == NEW_EVIDENCE:
                outcome.ref = ""  # its number was rolled back
            continue
        earlier = by_number.get(outcome.same_as) if outcome.same_as else None
        if earlier is not None and earlier.status != DONE:
            outcome.status = NOT_IMPORTED
            outcome.errors = [Message(N_("identique à la ligne %(row)s, qui n’a pas été importée"),
                                      row=earlier.number)]
        else:
            outcome.status = DONE
            outcome.ref = outcome.ref or (earlier.ref if earlier else "")
