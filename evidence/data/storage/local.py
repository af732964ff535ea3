"""Blobs in a local folder."""
from __future__ import annotations

import ctypes
import os
import platform
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from evidence.core.errors import N_
from evidence.data.instance_files import make_folder
from evidence.data.storage.base import (
    BlobBatch,
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


def _fsync_file(path: Path, flags: int = 0) -> None:
    fd = os.open(path, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync_file(path, os.O_DIRECTORY)


def _filesystem_sync():
    """syncfs(2), which makes everything written to one filesystem durable at once, where it reports a failed
    write-back (Linux 5.8 and later; before, it returned success all the same); None elsewhere.

    The function returned syncs through a descriptor of a folder of that filesystem, `fd`, and reports the failed
    write-backs of the filesystem since `fd` was opened: the descriptor must be older than the files it makes
    durable (the kernel may write a file back, and fail, before the sync is asked for)."""
    if platform.system() != "Linux":
        return None
    try:
        major, minor = (int(part) for part in platform.release().split(".")[:2])
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (ValueError, OSError, AttributeError):
        return None
    if (major, minor) < (5, 8):
        return None

    def sync(fd: int, path: Path) -> None:
        if syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(path))
    return sync


_SYNCFS = _filesystem_sync()


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


@dataclass(frozen=True)
class _Written:
    tmp: Path
    blob: StoredBlob


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
            written = self._write_temporary(stream, max_size)
            self._settle([written])
        return written.blob

    def batch(self) -> "LocalBatch":
        return LocalBatch(self)

    def _write_temporary(self, stream: BinaryIO, max_size: int | None) -> _Written:
        """The bytes in a temporary file, hashed while written; not yet fsynced nor named by their hash."""
        _make_dirs(self.tmp_dir)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                sha256, size = copy_hashing(stream, out, max_size)
                os.fchmod(out.fileno(), BLOB_MODE)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return _Written(Path(tmp_name), StoredBlob(key=blob_key(sha256), sha256=sha256, size=size))

    def _settle(self, written: list[_Written], each=map, syncfs=None) -> None:
        """Temporary files become blobs, durable when this returns: every file is fsynced before its final name
        exists, so a name only ever points at a complete file; then every folder that gained a name is fsynced,
        once for all the files it gained. `each` may run the fsyncs in threads (fsync releases the GIL).

        With `syncfs`, two syncs of the whole filesystem stand for those: the first makes every file durable,
        the second every name. Many files then cost the disk two journal commits instead of some per file."""
        def sync(fsync, paths):
            if syncfs is not None:
                syncfs(self.root)
                return
            for _done in each(fsync, paths):
                pass

        try:
            sync(_fsync_file, [w.tmp for w in written])
            folders: dict[Path, None] = {}  # ordered, without repeats
            for w in written:
                final = self.root / w.blob.key
                make_folder(final.parent, lambda folder: folders.setdefault(folder.parent))
                # link() rather than replace(): it never overwrites, so an existing blob is left untouched.
                try:
                    os.link(w.tmp, final)
                except FileExistsError:
                    pass  # identical content is already stored; its folder is fsynced below all the same
                folders.setdefault(final.parent)
            sync(_fsync_dir, list(folders))
        finally:
            # A crash before this line leaves only *.tmp files, which delete_orphan_temporaries() removes.
            for w in written:
                w.tmp.unlink(missing_ok=True)

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


class LocalBatch(BlobBatch):
    """Puts that write and hash at once, and leave the waits for the disk to `sync`, which pays them for many
    files together: in parallel for the files, once per folder for the folders; or, for many files where the
    system allows it, by two syncs of the whole filesystem."""

    SYNC_THREADS = 16  # each fsync waits for the disk; concurrent ones share the journal's commits and flushes
    # From this many files, two syncs of the whole filesystem cost less than some per file (bench/import.py: the
    # 10,000 small files' import went from 9.2 to 5.9 s). A sync of the filesystem also waits for other writers'
    # dirty pages, which a few files would pay for more than they save.
    SYNCFS_FROM = 16

    def __init__(self, store: LocalBlobStore):
        super().__init__(store)
        self._lock = threading.Lock()
        self._written: list[_Written] = []
        self._pool: Optional[ThreadPoolExecutor] = None
        self._failure: Optional[BaseException] = None
        # Opened before any file of the batch is written, for the syncs of the whole filesystem (_filesystem_sync).
        self._filesystem: Optional[int] = None
        if _SYNCFS is not None:
            _make_dirs(store.tmp_dir)
            self._filesystem = os.open(store.root, os.O_RDONLY | os.O_DIRECTORY)

    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
        with disk_full_is_a_clear_error():
            written = self.store._write_temporary(stream, max_size)
        with self._lock:  # before the blob is returned: the next sync covers it
            self._written.append(written)
        return written.blob

    def sync(self) -> None:
        with self._lock:
            written, self._written = self._written, []
        if self._failure is not None:
            # Blobs returned by earlier puts may have been lost with the sync that failed: none counts as stored.
            self._discard(written)
            raise self._failure
        if not written:
            return
        syncfs = None
        if self._filesystem is not None and len(written) >= self.SYNCFS_FROM:
            syncfs = partial(_SYNCFS, self._filesystem)
        if syncfs is None and self._pool is None:
            self._pool = ThreadPoolExecutor(self.SYNC_THREADS, thread_name_prefix="fsync")
        try:
            with disk_full_is_a_clear_error():
                self.store._settle(written, self._pool.map if self._pool else map, syncfs)
        except BaseException as error:
            self._failure = error
            raise

    def close(self) -> None:
        with self._lock:
            written, self._written = self._written, []
        self._discard(written)
        if self._pool is not None:
            self._pool.shutdown()
        if self._filesystem is not None:
            os.close(self._filesystem)
            self._filesystem = None

    @staticmethod
    def _discard(written: list[_Written]) -> None:
        for w in written:  # never synced: nothing names them
            w.tmp.unlink(missing_ok=True)
