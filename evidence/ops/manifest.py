"""What a backup folder is: its layout, its manifest, and the check that it is complete and intact.

A backup is a folder:

    manifest.json          format, app version, Alembic revision, date, audit head, row counts, and the
                           SHA-256 and size of every other file in the folder
    database.sqlite        SQLite: a copy made with the online backup API (one read transaction), or
    database.pgdump        PostgreSQL: `pg_dump --format=custom` in the very snapshot the blob list was read in
    blobs/ab/cd/<sha256>   every blob the database refers to (evidence versions, rendered dossiers)

ops.backup writes one, ops.restore reads one back.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath

from evidence.core.errors import EvidenceError
from evidence.data.storage import CHUNK_SIZE

FORMAT = "secnumcloud-evidence-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
DATABASE_FILES = {"sqlite": SQLITE_FILE, "postgresql": PG_FILE}
BLOBS = "blobs"

_BLOB_PATH = re.compile(r"blobs/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


class BackupError(EvidenceError):
    """A backup cannot be written, checked or restored; the message is one line, shown as is."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def fsync(path: Path) -> None:
    """fsync a file or a folder (a folder's entries: the names of the files in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(src: Path) -> dict:
    """The manifest of the backup folder `src`, once it is known to be well formed (its files are not read)."""
    src = Path(src)
    if src.name.endswith(".partial"):
        raise BackupError(f"{src} is an unfinished backup (its name ends in .partial): it cannot be restored")
    if not src.is_dir():
        raise BackupError(f"{src}: no such backup folder")
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(f"{src} is not a complete backup: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{path} is not valid JSON: the backup is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not the manifest of a SecNumCloud evidence backup")
    if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
        raise BackupError(f"{src} was written by a newer version of the product (backup format "
                          f"{manifest.get('format_version')!r}); upgrade before restoring it")
    database, files = manifest.get("database"), manifest.get("files")
    if (not isinstance(database, dict) or database.get("backend") not in DATABASE_FILES
            or database.get("file") != DATABASE_FILES[database["backend"]]
            or not isinstance(files, dict) or database["file"] not in files
            or not isinstance(manifest.get("audit_head"), dict) or not isinstance(manifest.get("tables"), dict)):
        raise BackupError(f"{path} is incomplete or malformed: the backup is damaged")
    for name, entry in files.items():
        blob = _BLOB_PATH.fullmatch(name) if isinstance(name, str) else None
        well_named = name == database["file"] or (
            blob is not None and blob[1] + blob[2] == blob[3][:4] and isinstance(entry, dict)
            and entry.get("sha256") == blob[3]
        )
        if not well_named or not isinstance(entry, dict) or not isinstance(entry.get("size"), int) \
                or not isinstance(entry.get("sha256"), str):
            raise BackupError(f"{path} lists an invalid entry {str(name)[:80]!r}: the backup is damaged")
    return manifest


def check_backup(src: Path | str) -> dict:
    """The manifest, once every file it lists is present with its size and SHA-256 and nothing else is there."""
    src = Path(src)
    manifest = read_manifest(src)
    problems = []
    for name, entry in sorted(manifest["files"].items()):
        path = src / PurePosixPath(name)
        if not path.is_file() or path.is_symlink():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != entry["size"]:
            problems.append(f"{name} has {path.stat().st_size} bytes instead of {entry['size']}")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{name} does not match its SHA-256 (corrupt)")
    listed = set(manifest["files"]) | {MANIFEST}
    for path in sorted(src.rglob("*")):
        if not path.is_dir() and path.relative_to(src).as_posix() not in listed:
            problems.append(f"{path.relative_to(src).as_posix()} is not listed in the manifest")
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise BackupError(f"backup {src} failed its check, nothing was restored: {problems[0]}{more}")
    return manifest
