"""`evidence restore SRC`: a backup (see ops.manifest) back into an empty instance.

Restore goes into an empty instance only: the database has no table, or only the product's tables with no row
(a migrated, never used database); the evidence store holds no blob that is not in the backup. Every file is
checked against the manifest before anything is written. The blobs go first (content-addressed: harmless if
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
from evidence.ops import database
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


def restore_backup(engine: Engine, store: storage.BlobStore, src: Path | str, actor: audit.Actor = None) -> RestoreReport:
    """Restore the backup at `src` into this (empty) instance; see the module's docstring."""
    src = Path(src).absolute()
    backend = database.backend_name(engine)
    manifest = check_backup(src)
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
    db_file = src / manifest["database"]["file"]
    if backend == "sqlite":
        database.load_sqlite(engine, db_file, manifest["files"][manifest["database"]["file"]]["sha256"])
    else:
        database.load_postgresql(engine, db_file, existing_tables)
    engine.dispose()

    # 3. Check what landed against the manifest, bring the schema up to date, record the restore, verify.
    state = database.read_engine_state(engine)
    report = RestoreReport(backend, manifest.get("created_at", "?"), revision, None, state.tables, len(keys))
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
    with Session(engine, expire_on_commit=False) as session:
        audit.record(session, actor, "instance.restore", details={
            "backup_created_at": manifest.get("created_at"), "backup_app_version": manifest.get("app_version"),
            "backup_revision": revision, "backup_audit_head": head, "source": str(src),
        }, object_type="instance")
        session.commit()
        verified = verify_instance(session, store)
    report.events, report.head_seq, report.head_hash = verified.events, verified.head_seq, verified.head_hash
    report.problems += verified.problems
    return report
