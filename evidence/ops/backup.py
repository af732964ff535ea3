"""`evidence backup DEST`: a consistent copy of the instance in a new folder (layout in ops.manifest).

Consistency: the list of blobs is read from the same snapshot as the database copy (see ops.database), and a
blob is always stored before any row refers to it and never removed, so every blob the copy needs exists. Each
blob is hashed while it is copied and must match its name. The folder is written as DEST.partial, synced, then
renamed to DEST: a crash leaves a *.partial folder, never one that looks like a complete backup.

The manifest is authenticated (ops.manifest.authenticate): an HMAC-SHA256 under a key derived from the
instance's secret key, which is not in the backup, so that an edited backup (a trigger added to the database, a
row count changed, with the hashes updated) is refused by restore. Restoring on a new machine therefore needs
the instance's secret_key file too.

Not in a backup: the secret key and instance/config.py (deployment settings, not data), the job queue (a
dossier queued or rendering at backup time stays so after a restore).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Optional

from sqlalchemy.engine import Engine

from evidence import __version__
from evidence.core.errors import N_
from evidence.data import storage
from evidence.data.models import utcnow
from evidence.ops import database
from evidence.ops.manifest import (
    BLOBS,
    DATABASE_FILES,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BackupError,
    authenticate,
    fsync,
    sha256_file,
)

__all__ = ["BackupError", "BackupReport", "create_backup"]


@dataclass
class BackupReport:
    path: Path
    backend: str
    revision: Optional[str]
    audit_seq: int
    audit_hash: str
    blobs: int
    bytes: int


def _check_destination(dest: Path, partial: Path) -> None:
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise BackupError(N_("%(dest)s existe et n’est pas un dossier : donnez un nouveau dossier"), dest=dest)
        if any(dest.iterdir()):
            raise BackupError(N_("%(dest)s existe et n’est pas vide : donnez un nouveau dossier (une sauvegarde "
                                 "n’écrase jamais rien)"), dest=dest)
    if partial.exists() or partial.is_symlink():
        raise BackupError(N_("%(partial)s existe : une autre sauvegarde vers %(dest)s est en cours, ou l’une a été "
                             "interrompue (supprimez-le d’abord)"), partial=partial, dest=dest)


def _copy_blob(store: storage.BlobStore, key: str, sha256: str, target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        reader = store.open(key)
    except storage.StorageError:
        raise BackupError(N_("le blob %(key)s manque dans le magasin de preuves (lancez `evidence verify`)"),
                          key=key) from None
    digest, size = hashlib.sha256(), 0
    with reader, open(target, "xb") as out:
        while chunk := reader.read(storage.CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != sha256:
        raise BackupError(N_("le blob %(key)s est corrompu dans le magasin de preuves (lancez `evidence verify`)"),
                          key=key)
    os.chmod(target, 0o400)
    return size


def create_backup(engine: Engine, store: storage.BlobStore, dest: Path | str, manifest_key: bytes) -> BackupReport:
    """Write a backup folder at `dest` (absent or empty), its manifest authenticated with `manifest_key`
    (ops.manifest.manifest_key of the instance's SECRET_KEY); see the module's docstring."""
    backend = database.backend_name(engine)
    dest = Path(dest).absolute()
    partial = dest.with_name(dest.name + ".partial")
    _check_destination(dest, partial)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial.mkdir(mode=0o700)  # evidence may be confidential: the backup is readable by its owner only
    try:
        db_file = DATABASE_FILES[backend]
        dump = database.dump_sqlite if backend == "sqlite" else database.dump_postgresql
        state = dump(engine, partial / db_file)
        fsync(partial / db_file)
        os.chmod(partial / db_file, 0o400)
        files = {db_file: {"sha256": sha256_file(partial / db_file), "size": (partial / db_file).stat().st_size}}
        total = files[db_file]["size"]
        for key, sha256 in sorted(state.blobs.items()):
            size = _copy_blob(store, key, sha256, partial / BLOBS / key)
            files[f"{BLOBS}/{key}"] = {"sha256": sha256, "size": size}
            total += size
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": __version__,
            "alembic_revision": state.revision,
            "created_at": utcnow().astimezone(timezone.utc).isoformat(timespec="seconds"),
            "database": {"backend": backend, "file": db_file},
            "storage": store.kind,
            "audit_head": {"seq": state.audit_seq, "hash": state.audit_hash},
            "tables": state.tables,
            "blobs": len(state.blobs),
            "files": files,
        }
        manifest = authenticate(manifest, manifest_key)
        # Every file is on disk (each was fsynced) and so is every folder entry, before the manifest and the
        # rename vouch for them. Per file rather than os.sync(), which would flush the whole machine's writes.
        for folder in {parent for name in files for parent in (partial / name).parents if partial in parent.parents}:
            fsync(folder)
        with open(partial / MANIFEST, "x", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(partial / MANIFEST, 0o400)
        fsync(partial)
        os.rename(partial, dest)  # the commit: DEST appears complete or not at all (an empty DEST is replaced)
        fsync(dest.parent)
    except BaseException as error:
        shutil.rmtree(partial, ignore_errors=True)  # ours; a kill -9 leaves it, under its .partial name only
        if isinstance(error, OSError):  # e.g. the destination's disk is full: one line, not a traceback
            raise BackupError(N_("la sauvegarde vers %(dest)s a échoué, rien n’a été conservé : %(reason)s"),
                              dest=dest, reason=error) from None
        raise
    return BackupReport(dest, backend, state.revision, state.audit_seq, state.audit_hash, len(state.blobs), total)
