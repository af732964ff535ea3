"""What every blob store shares: keys derived from SHA-256, the interface, hashing while copying.

A blob's key is derived from the SHA-256 of its bytes ("ab/cd/<sha256>"), so identical files are stored once
and any later change to the bytes is detectable by re-hashing (`verify`). Files are read in 1 MiB chunks and
hashed while they are copied: a put never holds a whole file in memory, whatever its size.
"""
from __future__ import annotations

import abc
import contextlib
import errno
import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from evidence.core.errors import N_, EvidenceError, Message

CHUNK_SIZE = 1024 * 1024

_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


class StorageError(EvidenceError):
    """A blob cannot be stored or read; the message is shown to users in their language."""


@dataclass(frozen=True)
class StoredBlob:
    key: str  # storage key, "ab/cd/<sha256>"
    sha256: str  # hex
    size: int  # bytes


def blob_key(sha256: str) -> str:
    """The storage key of a blob whose SHA-256 is `sha256` (64 lowercase hex characters)."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def is_blob_key(key) -> bool:
    """Whether `key` has exactly the form blob_key() makes ("ab/cd/abcd…", the folders matching the hash)."""
    match = _KEY.fullmatch(key) if isinstance(key, str) else None
    return match is not None and match[1] + match[2] == match[3][:4]


def check_key(key: str) -> str:
    """`key` itself, or StorageError if it is not a blob key."""
    # Keys may come from a database row or a request: only the exact form blob_key() makes is accepted,
    # which rules out "..", absolute paths and anything else that could reach outside the store.
    if not is_blob_key(key):
        raise StorageError(N_("clé de stockage « %(key)s » invalide"), key=key)
    return key


def copy_hashing(stream: BinaryIO, out: BinaryIO, max_size: int | None = None) -> tuple[str, int]:
    """Copy `stream` to `out` chunk by chunk; return (sha256 hex, size). StorageError past `max_size` bytes."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        size += len(chunk)
        if max_size is not None and size > max_size:
            raise StorageError(N_("le fichier dépasse la taille maximale de %(limit)s octets"), limit=max_size,
                               field="file")
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest(), size


def hash_stream(stream: BinaryIO) -> str:
    """The SHA-256 (hex) of what is left to read in `stream`, read chunk by chunk."""
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def disk_full_is_a_clear_error():
    """A full disk (where a put writes or spools) becomes a StorageError users can read."""
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageError(N_("le magasin des preuves est plein (plus d’espace sur le disque) : le fichier n’a "
                                  "pas été enregistré")) from None
        raise


class BlobStore(abc.ABC):
    """What the application relies on; LocalBlobStore and S3BlobStore are interchangeable."""

    kind: str  # "local" or "s3": what a backup's manifest records of where the blobs came from

    @abc.abstractmethod
    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
        """Store the bytes of `stream`; raise StorageError, leaving nothing behind, past `max_size` bytes."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary file object on the blob; StorageError if it is missing."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def keys(self) -> Iterator[str]:
        """Every blob key in the store, in key order, read lazily (a store may hold millions).

        Only what blob_key() could have made counts: temporary files and anything else are left out."""

    def verify(self, key: str, sha256: str) -> str | None:
        """None if the blob still hashes to `sha256`, else "missing" or "corrupt"."""
        try:
            reader = self.open(key)
        except StorageError:
            if not self.exists(key):  # re-raises for an invalid key
                return "missing"
            raise
        with reader:
            return None if hash_stream(reader) == sha256.lower() else "corrupt"

    def delete_orphan_temporaries(self) -> int:
        """Remove temporary files left by interrupted puts; return how many were removed."""
        return 0

    def batch(self) -> "BlobBatch":
        """Puts for bulk work whose blobs are durable only once `sync()` returns: the caller syncs before it
        commits a row naming them. A store whose `put` costs no wait for the disk returns puts as they are."""
        return BlobBatch(self)


class BlobBatch:
    """What `BlobStore.batch()` gives by default: each put is durable when it returns. Thread-safe puts."""

    def __init__(self, store: BlobStore):
        self.store = store

    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
        return self.store.put(stream, max_size)

    def sync(self) -> None:
        """Every blob put so far is durable (StorageError or OSError if one could not be made so)."""

    def close(self) -> None:
        """Ends the batch; what was put and not synced may be lost, never left half-stored."""

    def __enter__(self) -> "BlobBatch":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def blob_verdict(verdict: str) -> Message | str:
    """The store's verdict on a file ("missing", "corrupt") in the reader's words."""
    words = {"missing": N_("absent"), "corrupt": N_("corrompu")}
    return Message(words[verdict]) if verdict in words else verdict
