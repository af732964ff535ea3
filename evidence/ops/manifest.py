"""What a backup folder is: its layout, its manifest, and the check that it is complete and intact.

A backup is a folder:

    manifest.json          format, app version, Alembic revision, date, audit head, row counts, the
                           SHA-256 and size of every other file in the folder, and its own HMAC-SHA256
                           (`authentication`: see authenticate())
    database.sqlite        SQLite: a copy made with the online backup API (one read transaction), or
    database.pgdump        PostgreSQL: `pg_dump --format=custom` in the very snapshot the blob list was read in
    blobs/ab/cd/<sha256>   every blob the database refers to (evidence versions, rendered dossiers)

ops.backup writes one, ops.restore reads one back.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from pathlib import Path, PurePosixPath

from evidence.core.errors import N_, EvidenceError, Message
from evidence.data.storage import CHUNK_SIZE

FORMAT = "secnumcloud-evidence-backup"
FORMAT_VERSION = 2  # 2: the manifest is authenticated
AUTHENTICATION = "authentication"
# Domain separation: the instance secret also signs sessions and seals the audit chain; this key does one thing.
MANIFEST_KEY_LABEL = b"evidence backup manifest v1"
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


def manifest_key(secret_key) -> bytes:
    """The key that authenticates this instance's backup manifests, derived from its SECRET_KEY, which is kept in
    instance/secret_key and never in a backup: whoever can edit a backup cannot re-authenticate its manifest."""
    secret = secret_key.encode() if isinstance(secret_key, str) else bytes(secret_key or b"")
    if not secret:
        raise BackupError(N_("l’instance n’a pas de clé secrète (SECRET_KEY) : ses sauvegardes ne peuvent être ni "
                             "authentifiées ni vérifiées"))
    return hmac.new(secret, MANIFEST_KEY_LABEL, hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """Names a key without revealing it, so that a restore can tell "another instance's key" from "altered"."""
    return hashlib.sha256(key).hexdigest()[:16]


def _canonical(manifest: dict) -> bytes:
    body = {name: value for name, value in manifest.items() if name != AUTHENTICATION}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def authenticate(manifest: dict, key: bytes) -> dict:
    """The manifest with its HMAC-SHA256 over the canonical JSON of everything else in it."""
    mac = hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()
    return {**manifest, AUTHENTICATION: {"algorithm": "HMAC-SHA256", "key_id": key_id(key), "hmac": mac}}


def authentication_problem(manifest: dict, key: bytes, path: Path) -> Message | None:
    """None when the manifest at `path` is authenticated by `key`, else why not (one sentence naming the file)."""
    seal = manifest.get(AUTHENTICATION)
    if not isinstance(seal, dict) or not isinstance(seal.get("hmac"), str):
        return Message(N_("%(path)s n’est pas authentifié (sauvegarde d’une version antérieure du produit, ou "
                          "authentification retirée) : rien ne garantit que la sauvegarde n’a pas été modifiée"),
                       path=path)
    if seal.get("key_id") != key_id(key):
        return Message(N_("%(path)s : cette sauvegarde a été faite par une instance dont la clé secrète est "
                          "différente (clé %(key_id)s, celle-ci est %(ours)s) : restaurez-la avec le fichier "
                          "instance/secret_key de cette instance-là"), path=path, key_id=str(seal.get("key_id"))[:16],
                       ours=key_id(key))
    expected = hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(seal["hmac"], expected):
        return Message(N_("%(path)s a été modifié depuis la sauvegarde (son HMAC ne correspond pas à son contenu) : "
                          "la sauvegarde a été altérée"), path=path)
    return None


def read_manifest(src: Path) -> dict:
    """The manifest of the backup folder `src`, once it is known to be well formed (its files are not read)."""
    src = Path(src)
    if src.name.endswith(".partial"):
        raise BackupError(N_("%(src)s est une sauvegarde inachevée (son nom finit par .partial) : elle ne peut pas "
                             "être restaurée"), src=src)
    if not src.is_dir():
        raise BackupError(N_("%(src)s : aucun dossier de sauvegarde de ce nom"), src=src)
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(N_("%(src)s n’est pas une sauvegarde complète : %(manifest)s manque"), src=src,
                          manifest=MANIFEST)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BackupError(N_("%(path)s n’est pas du JSON valide : la sauvegarde est endommagée"), path=path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(N_("%(path)s n’est pas le manifeste d’une sauvegarde de preuves SecNumCloud"), path=path)
    if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
        raise BackupError(N_("%(src)s a été écrite par une version plus récente du produit (format de sauvegarde "
                             "%(format)s) ; mettez le produit à jour avant de la restaurer"), src=src,
                          format=repr(manifest.get("format_version")))
    database, files = manifest.get("database"), manifest.get("files")
    if (not isinstance(database, dict) or database.get("backend") not in DATABASE_FILES
            or database.get("file") != DATABASE_FILES[database["backend"]]
            or not isinstance(files, dict) or database["file"] not in files
            or not isinstance(manifest.get("audit_head"), dict) or not isinstance(manifest.get("tables"), dict)):
        raise BackupError(N_("%(path)s est incomplet ou mal formé : la sauvegarde est endommagée"), path=path)
    for name, entry in files.items():
        blob = _BLOB_PATH.fullmatch(name) if isinstance(name, str) else None
        well_named = name == database["file"] or (
            blob is not None and blob[1] + blob[2] == blob[3][:4] and isinstance(entry, dict)
            and entry.get("sha256") == blob[3]
        )
        if not well_named or not isinstance(entry, dict) or not isinstance(entry.get("size"), int) \
                or not isinstance(entry.get("sha256"), str):
            raise BackupError(N_("%(path)s liste une entrée invalide %(name)s : la sauvegarde est endommagée"),
                              path=path, name=repr(str(name)[:80]))
    return manifest


def check_backup(src: Path | str, key: bytes, force_unverified: bool = False) -> tuple[dict, Message | None]:
    """(The manifest, None) once it is authenticated by `key` and every file it lists is present with its size
    and SHA-256 and nothing else is there. With `force_unverified` (disaster recovery: the secret key is lost),
    a manifest that does not authenticate is accepted and why is returned instead of None; its files must
    still match it, so that what is restored is at least what the manifest describes."""
    src = Path(src)
    manifest = read_manifest(src)
    unverified = authentication_problem(manifest, key, src / MANIFEST)
    if unverified is not None and not force_unverified:
        raise BackupError(N_("%(problem)s ; rien n’a été restauré (pour une reprise après sinistre où la clé "
                             "secrète est perdue : `evidence restore --force-unverified`)"), problem=unverified)
    problems = []
    for name, entry in sorted(manifest["files"].items()):
        path = src / PurePosixPath(name)
        if not path.is_file() or path.is_symlink():
            problems.append(Message(N_("%(name)s manque"), name=name))
        elif path.stat().st_size != entry["size"]:
            problems.append(Message(N_("%(name)s fait %(size)s octets au lieu de %(expected)s"), name=name,
                                    size=path.stat().st_size, expected=entry["size"]))
        elif sha256_file(path) != entry["sha256"]:
            problems.append(Message(N_("%(name)s ne correspond pas à son SHA-256 (corrompu)"), name=name))
    listed = set(manifest["files"]) | {MANIFEST}
    for path in sorted(src.rglob("*")):
        if not path.is_dir() and path.relative_to(src).as_posix() not in listed:
            problems.append(Message(N_("%(name)s n’est pas listé dans le manifeste"),
                                    name=path.relative_to(src).as_posix()))
    if len(problems) > 1:
        raise BackupError(N_("la sauvegarde %(src)s a échoué à sa vérification, rien n’a été restauré : %(problem)s "
                             "(et %(more)s autre(s) problème(s))"), src=src, problem=problems[0],
                          more=len(problems) - 1)
    if problems:
        raise BackupError(N_("la sauvegarde %(src)s a échoué à sa vérification, rien n’a été restauré : %(problem)s"),
                          src=src, problem=problems[0])
    return manifest, unverified
