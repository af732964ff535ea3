"""`evidence restore SRC`: a backup (see ops.manifest) back into an empty instance.

Restore trusts a backup only as far as it can check it. Its manifest must be authenticated by this instance's
key (ops.manifest: an HMAC under a key derived from instance/secret_key, which is not in the backup), else it is
refused; `force_unverified` (disaster recovery: the secret key was lost) accepts a manifest that does not
verify, says so in the instance.restore event, and nothing else: the files must still match the manifest, and
the database's schema must still be exactly the migrations' (ops.schema), whatever `force_unverified` says: a
trigger or a view of unknown origin is never a price worth paying for getting data back, and an untampered
backup passes that check anyway.

Restore goes into an empty instance only: the database has no table, or only the product's tables with no row
(a migrated, never used database); the evidence store holds no blob that is not in the backup. Every file is
checked against the manifest, and the database's schema against the migrations', before anything is written
(PostgreSQL: the dump's table of contents; the restored database is compared again, and dropped on any
difference). The blobs go first (content-addressed: harmless if
what follows fails, and accepted by a second attempt), then the database in one step (SQLite: a file renamed
into place; PostgreSQL: `pg_restore --single-transaction`). The restored instance is then migrated if the backup
is older than this version, the restore is recorded in the audit trail, and everything `evidence verify` checks
is checked (ops.verify). Both evidence stores are supported: blobs are read and written through the store's
own interface.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional

from sqlalchemy.engine import Engine
from sqlmodel import Session

from evidence import __version__
from evidence.core.errors import N_, Message
from evidence.data import audit, storage
from evidence.data import database as db
from evidence.ops import database, schema
from evidence.ops.manifest import BLOBS, BackupError, check_backup
from evidence.ops.verify import verify_instance


@dataclass
class RestoreReport:
    backend: str
    created_at: str
    revision: Optional[str]
    migrated_to: Optional[str]
    tables: dict
    blobs: int
    events: int = 0
    head_seq: int = 0
    head_hash: str = ""
    problems: list = field(default_factory=list)  # Messages
    unverified: Optional[Message] = None  # why the manifest did not authenticate (a forced restore only)


def _check_empty(engine: Engine, store: storage.BlobStore, backup_keys: set[str]) -> list[str]:
    tables, rows = database.database_contents(engine)
    where = engine.url.render_as_string(hide_password=True)
    if rows < 0:
        raise BackupError(N_("la base de données %(where)s n’est pas vide (elle a des tables que le produit ne "
                             "connaît pas) : la restauration demande une base neuve et vide"), where=where)
    if rows > 0:
        raise BackupError(N_("l’instance n’est pas vide : la base de données %(where)s contient %(rows)s ligne(s) ; "
                             "la restauration demande une base et un magasin de preuves neufs et vides"),
                          where=where, rows=rows)
    foreign = sum(1 for key in store.keys() if key not in backup_keys)
    if foreign:
        raise BackupError(N_("l’instance n’est pas vide : le magasin de preuves %(store)s contient %(count)s "
                             "fichier(s) absent(s) de cette sauvegarde ; la restauration demande un magasin de "
                             "preuves vide"), store=repr(store), count=foreign)
    return tables


def _refuse_schema(src: Path, revision, problems: list, restored: bool) -> None:
    if not problems:
        return
    params = {"src": src, "revision": revision, "problem": problems[0], "more": len(problems) - 1}
    if restored:  # PostgreSQL, compared once pg_restore ran: what it created has been dropped
        if len(problems) > 1:
            raise BackupError(N_("la base de données de la sauvegarde %(src)s n’a pas le schéma que créent les "
                                 "migrations (révision %(revision)s) ; ce qui avait été restauré a été supprimé : "
                                 "%(problem)s (et %(more)s autre(s) différence(s))"), **params)
        raise BackupError(N_("la base de données de la sauvegarde %(src)s n’a pas le schéma que créent les "
                             "migrations (révision %(revision)s) ; ce qui avait été restauré a été supprimé : "
                             "%(problem)s"), **params)
    if len(problems) > 1:
        raise BackupError(N_("la base de données de la sauvegarde %(src)s n’a pas le schéma que créent les migrations "
                             "(révision %(revision)s), rien n’a été restauré : %(problem)s (et %(more)s autre(s) "
                             "différence(s))"), **params)
    raise BackupError(N_("la base de données de la sauvegarde %(src)s n’a pas le schéma que créent les migrations "
                         "(révision %(revision)s), rien n’a été restauré : %(problem)s"), **params)


def restore_backup(engine: Engine, store: storage.BlobStore, src: Path | str, actor: audit.Actor = None, *,
                   key: bytes, force_unverified: bool = False) -> RestoreReport:
    """Restore the backup at `src` into this (empty) instance; `key`: ops.manifest.manifest_key of this
    instance's SECRET_KEY. See the module's docstring."""
    src = Path(src).absolute()
    backend = database.backend_name(engine)
    manifest, unverified = check_backup(src, key, force_unverified)
    if manifest["database"]["backend"] != backend:
        raise BackupError(N_("cette sauvegarde contient une base %(saved)s et l’instance est configurée pour "
                             "%(backend)s : restaurez-la dans une base %(saved)s (le passage d’une base à l’autre "
                             "n’est pas pris en charge)"), saved=manifest["database"]["backend"], backend=backend)
    known, head_revision = database.known_revisions()
    revision = manifest.get("alembic_revision")
    if revision is not None and revision not in known:
        raise BackupError(N_("le schéma de la sauvegarde (révision %(revision)s) est plus récent que cette version "
                             "du produit (%(version)s, révision %(head)s) : mettez à jour avant de la restaurer"),
                          revision=revision, version=__version__, head=head_revision)
    blob_names = sorted(name for name in manifest["files"] if name.startswith(f"{BLOBS}/"))
    keys = {name.removeprefix(f"{BLOBS}/") for name in blob_names}
    existing_tables = _check_empty(engine, store, keys)
    db_name = manifest["database"]["file"]
    db_file = src / db_name
    if backend == "sqlite":
        _refuse_schema(src, revision, schema.sqlite_file_differences(db_file, revision), restored=False)
    else:
        _refuse_schema(src, revision, schema.dump_problems(database.dump_contents(engine, db_file)), restored=False)
        reference = schema.postgresql_reference(engine, revision)  # before pg_restore: what the database holds

    # 1. The blobs: content-addressed, so harmless should the rest fail, and accepted by a second attempt.
    present = set(store.keys())
    for name in blob_names:
        key = name.removeprefix(f"{BLOBS}/")
        if key in present and store.verify(key, manifest["files"][name]["sha256"]) is None:
            continue
        with open(src / PurePosixPath(name), "rb") as f:
            blob = store.put(f)
        if blob.key != key:
            raise BackupError(N_("%(name)s a changé pendant sa restauration (son SHA-256 est maintenant %(sha256)s)"),
                              name=name, sha256=blob.sha256)

    # 2. The database, in one step.
    if backend == "sqlite":
        # The copy about to be renamed into place is checked again: it is what the instance will run on.
        database.load_sqlite(engine, db_file, manifest["files"][db_name]["sha256"], check=lambda copy: _refuse_schema(
            src, revision, schema.sqlite_file_differences(copy, revision), restored=False))
    else:
        database.load_postgresql(engine, db_file, existing_tables)
        engine.dispose()
        problems = schema.postgresql_differences(engine, reference)
        if problems:
            schema.drop_restored(engine, reference)
            engine.dispose()
            _refuse_schema(src, revision, problems, restored=True)
    engine.dispose()

    # 3. Check what landed against the manifest, bring the schema up to date, record the restore, verify.
    state = database.read_engine_state(engine)
    report = RestoreReport(backend, manifest.get("created_at", "?"), revision, None, state.tables, len(keys),
                           unverified=unverified)
    if state.tables != manifest["tables"]:
        report.problems.append(Message(N_("les nombres de lignes restaurés %(restored)s diffèrent de ceux du "
                                          "manifeste %(expected)s"), restored=state.tables, expected=manifest["tables"]))
    head = manifest["audit_head"]
    if (state.audit_seq, state.audit_hash) != (head.get("seq"), head.get("hash")):
        report.problems.append(Message(N_("la tête du journal d’audit restaurée n° %(seq)s %(hash)s diffère de "
                                          "celle du manifeste, n° %(expected_seq)s %(expected_hash)s"),
                                       seq=state.audit_seq, hash=state.audit_hash, expected_seq=head.get("seq"),
                                       expected_hash=head.get("hash")))
    if revision != head_revision:
        db.migrate(engine)
        report.migrated_to = head_revision
    details = {"backup_created_at": manifest.get("created_at"), "backup_app_version": manifest.get("app_version"),
               "backup_revision": revision, "backup_audit_head": head, "source": str(src),
               "manifest_verified": unverified is None}
    if unverified is not None:  # who forced it, and why it had to be forced, stay in the trail
        details.update(forced_unverified=True, unverified_reason=str(unverified))
    with Session(engine, expire_on_commit=False) as session:
        audit.record(session, actor, "instance.restore", details=details, object_type="instance")
        session.commit()
        verified = verify_instance(session, store)
    report.events, report.head_seq, report.head_hash = verified.events, verified.head_seq, verified.head_hash
    report.problems += verified.problems
    return report
