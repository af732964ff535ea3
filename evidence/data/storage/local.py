"""Blobs in a local folder."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterator

from evidence.core.errors import N_
from evidence.data.instance_files import make_folder
from evidence.data.storage.base import (
    BlobStore,
    StorageError,
    StoredBlob,
    blob_key,
    check_key,
    copy_hashing,
    disk_full_is_a_clear_error,
    is_blob_key,
)

ORPHAN_AGE_SECONDS = 60 * 60
# Blobs are immutable: nobody, owner included, should write to one by accident; and evidence may be confidential:
# nobody but the owner reads one (data.instance_files), nor lists the folders that name them by their hash.
BLOB_MODE = 0o400
_HEX = frozenset("0123456789abcdef")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(path: Path) -> None:
    """mkdir -p that also fsyncs the parent of each folder it creates, so the new entry survives a crash."""
    make_folder(path, lambda folder: _fsync_dir(folder.parent))


def _sorted_entries(folder: Path, directories: bool) -> list[str]:
    """Names in `folder` that are folders (or files), sorted; none when it is gone."""
    try:
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries if (e.is_dir(follow_symlinks=False) if directories
                                                      else e.is_file(follow_symlinks=False)))
    except (FileNotFoundError, NotADirectoryError):
        return []


class LocalBlobStore(BlobStore):
    """Blobs under `root/ab/cd/<sha256>`; temporary files in `root/tmp`, on the same filesystem."""

    kind = "local"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"  # never a key: "t" is not a hex digit

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
        with disk_full_is_a_clear_error():
            return self._put(stream, max_size)

    def _put(self, stream: BinaryIO, max_size: int | None) -> StoredBlob:
        _make_dirs(self.tmp_dir)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                sha256, size = copy_hashing(stream, out, max_size)
                out.flush()
                os.fsync(out.fileno())
                os.fchmod(out.fileno(), BLOB_MODE)
            key = blob_key(sha256)
            final = self.root / key
            _make_dirs(final.parent)
            # link() rather than replace(): it never overwrites, so an existing blob is left untouched and
            # the final name only ever points at a complete, fsynced file.
            try:
                os.link(tmp_name, final)
            except FileExistsError:
                pass  # identical content is already stored; this copy is discarded below
            else:
                _fsync_dir(final.parent)
        finally:
            # A crash before this line leaves only a *.tmp, which delete_orphan_temporaries() removes.
            Path(tmp_name).unlink(missing_ok=True)
        return StoredBlob(key=key, sha256=sha256, size=size)

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise StorageError(N_("le fichier stocké %(key)s est introuvable"), key=key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self) -> Iterator[str]:
        # Folder by folder, sorted: the order of keys, without listing the whole store at once.
        for first in _sorted_entries(self.root, directories=True):
            if len(first) != 2 or not set(first) <= _HEX:
                continue
            for second in _sorted_entries(self.root / first, directories=True):
                for name in _sorted_entries(self.root / first / second, directories=False):
                    key = f"{first}/{second}/{name}"
                    if is_blob_key(key):
                        yield key

    def delete_orphan_temporaries(self) -> int:
        # An hour leaves puts in progress alone: their file's mtime moves with every chunk written.
        cutoff = time.time() - ORPHAN_AGE_SECONDS
        removed = 0
        for path in self.tmp_dir.glob("*.tmp"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # its put finished meanwhile
                pass
        return removed
