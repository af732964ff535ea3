"""Who may read the instance's files: their owner only.

The instance holds the database, the job queue, the secret key that signs sessions, the evidence files and the
dossier's rendered parts; any local account that reads one of them reads confidential evidence, or forges a
session with the key. Three layers keep them private: the process's umask (PRIVATE_UMASK, set by create_app
before anything is written), explicit modes on the files and folders the product creates on purpose
(FILE_MODE, FOLDER_MODE; blobs and backups are read-only, 0400), and a check at start-up that names any path
still readable by group or others, e.g. an instance made by an older version (`evidence init --fix-permissions`
repairs them). Nothing here knows Flask: the places are given by the caller.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from sqlalchemy.engine import make_url

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
FOLDER_MODE = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def keep_private() -> None:
    """Files and folders this process creates are its owner's only, whoever creates them (SQLite, huey,
    tempfile, a library): one setting for the whole process, which exists to run the product."""
    os.umask(PRIVATE_UMASK)


def make_folder(path: Path, created=None) -> None:
    """mkdir -p whose new folders are 0700 whatever the umask (pathlib gives `mode` to the last folder only);
    `created(folder)` is called for each folder it makes (the evidence store fsyncs its parent)."""
    path = Path(path)
    if path.is_dir():
        return
    make_folder(path.parent, created)
    try:
        path.mkdir(mode=FOLDER_MODE)
    except FileExistsError:  # another process made it meanwhile
        return
    if created is not None:
        created(path)


def create_private_file(path: Path) -> None:
    """Create `path` empty, 0600, unless it exists. For a SQLite database before it is opened: SQLite gives its
    -wal and -shm files the database file's mode, so they are private from the start too."""
    path = Path(path)
    make_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass


def with_companions(database: Path) -> list[Path]:
    """A SQLite file and the files SQLite keeps beside it."""
    return [database] + [database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS]


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for another database or one in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def private_places(instance: Path, config: Mapping[str, Any], store_root: Path | None) -> list[Path]:
    """Where the product keeps what must stay private: the instance folder, and the database, the queue, the
    local evidence store and the part cache, wherever the settings put them."""
    places = [Path(instance)]
    database = sqlite_file(str(config["DATABASE_URL"]))
    if database is not None:
        places += with_companions(database)
    if config.get("HUEY_DB") and not config.get("JOBS_IMMEDIATE"):
        places += with_companions(Path(config["HUEY_DB"]))
    places += [Path(p) for p in (store_root, config.get("DOSSIER_CACHE_DIR")) if p]
    return places


@dataclass(frozen=True)
class Exposed:
    path: Path
    mode: int

    def __str__(self) -> str:
        kind = "folder" if stat.S_ISDIR(self.mode) else "file"
        return f"{kind} {self.path} is readable by group or others (mode {stat.S_IMODE(self.mode):04o})"


def _entries(place: Path, deep: bool) -> Iterator[Path]:
    """`place`, and what it holds: its direct entries, or (deep) everything under it. Symbolic links are not
    followed: what they point at is not the instance's to judge."""
    yield place
    if place.is_symlink() or not place.is_dir():
        return
    if not deep:
        try:
            yield from sorted(place.iterdir())
        except OSError:
            pass
        return
    for folder, folders, files in os.walk(place, onerror=lambda error: None):
        folders.sort()
        for name in folders + sorted(files):
            yield Path(folder) / name


def exposed(places: Iterable[Path], deep: bool = False) -> list[Exposed]:
    """The paths among `places` (and their direct entries, or everything under them when `deep`) that group or
    others may read, write or enter; each once, in order."""
    seen, found = set(), []
    for place in places:
        for path in _entries(Path(place), deep):
            if path in seen:
                continue
            seen.add(path)
            try:
                mode = path.lstat().st_mode
            except OSError:  # absent (a -wal between checkpoints), or gone meanwhile
                continue
            if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
                found.append(Exposed(path, mode))
    return found


def make_private(found: Iterable[Exposed]) -> int:
    """Take group's and others' rights off each path (0644 becomes 0600, 0755 0700, 0444 0400); how many."""
    count = 0
    for item in found:
        os.chmod(item.path, stat.S_IMODE(item.mode) & ~0o077)  # never a link: exposed() skips them
        count += 1
    return count


warned: set[tuple[Path, int]] = set()  # paths already reported by this process (a worker builds many apps)


def app_places(app) -> list[Path]:
    """private_places of an app (after storage.init_app): its local store's folder, when it has one."""
    from evidence.data import storage

    return private_places(app.instance_path, app.config, getattr(storage.get_store(app), "root", None))


def warn_exposed(app) -> None:
    """Log, at start-up (create_app: every command, `evidence serve`, `evidence worker`), each private place or
    entry of one that group or others may read. A quick look (the places and their direct entries);
    `evidence init` looks at everything under them."""
    for item in exposed(app_places(app)):
        if (item.path, item.mode) not in warned:
            warned.add((item.path, item.mode))
            app.logger.warning("%s: run `evidence init --fix-permissions` (or chmod go-rwx on it)", item)
