"""Content-addressed blob store for evidence files, on a local folder or on S3-compatible object storage.

A blob's key is derived from the SHA-256 of its bytes ("ab/cd/<sha256>"), so identical files are stored once
and any later change to the bytes is detectable by re-hashing (`verify`). Files are read in 1 MiB chunks and
hashed while they are copied: a put never holds a whole file in memory, whatever its size.

The backend is chosen by STORAGE_URL alone (see `store_from_config`); both offer the same interface.
"""
from __future__ import annotations

import abc
import contextlib
import errno
import hashlib
import io
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Mapping
from urllib.parse import unquote, urlsplit

from evidence.core.errors import EvidenceError

CHUNK_SIZE = 1024 * 1024
ORPHAN_AGE_SECONDS = 60 * 60
BLOB_MODE = 0o440  # blobs are immutable: nobody, owner included, should write to one by accident

_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


class StorageError(EvidenceError):
    """A blob cannot be stored or read; the message is shown to users as is."""


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


def _check_key(key: str) -> str:
    # Keys may come from a database row or a request: only the exact form blob_key() makes is accepted,
    # which rules out "..", absolute paths and anything else that could reach outside the store.
    match = _KEY.fullmatch(key) if isinstance(key, str) else None
    if match is None or match[1] + match[2] != match[3][:4]:
        raise StorageError(f"invalid storage key {key!r}")
    return key


def _copy_hashing(stream: BinaryIO, out: BinaryIO, max_size: int | None) -> tuple[str, int]:
    """Copy `stream` to `out` chunk by chunk; return (sha256 hex, size)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        size += len(chunk)
        if max_size is not None and size > max_size:
            raise StorageError(f"file exceeds the size limit of {max_size} bytes")
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest(), size


def _hash_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
    return digest.hexdigest()


class BlobStore(abc.ABC):
    """What the application relies on; LocalBlobStore and S3BlobStore are interchangeable."""

    @abc.abstractmethod
    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
        """Store the bytes of `stream`; raise StorageError, leaving nothing behind, past `max_size` bytes."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary file object on the blob; StorageError if it is missing."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    def verify(self, key: str, sha256: str) -> str | None:
        """None if the blob still hashes to `sha256`, else "missing" or "corrupt"."""
        try:
            reader = self.open(key)
        except StorageError:
            if not self.exists(key):  # re-raises for an invalid key
                return "missing"
            raise
        with reader:
            return None if _hash_stream(reader) == sha256.lower() else "corrupt"

    def delete_orphan_temporaries(self) -> int:
        """Remove temporary files left by interrupted puts; return how many were removed."""
        return 0


# --- local folder -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _disk_full_is_a_clear_error():
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageError("the evidence store is full (no space left on device): the file was not stored") from None
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(path: Path) -> None:
    """mkdir -p that also fsyncs the parent of each folder it creates, so the new entry survives a crash."""
    if path.is_dir():
        return
    _make_dirs(path.parent)
    try:
        path.mkdir()
    except FileExistsError:  # a concurrent put made it
        return
    _fsync_dir(path.parent)


class LocalBlobStore(BlobStore):
    """Blobs under `root/ab/cd/<sha256>`; temporary files in `root/tmp`, on the same filesystem."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"  # never a key: "t" is not a hex digit

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
        with _disk_full_is_a_clear_error():
            return self._put(stream, max_size)

    def _put(self, stream: BinaryIO, max_size: int | None) -> StoredBlob:
        _make_dirs(self.tmp_dir)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                sha256, size = _copy_hashing(stream, out, max_size)
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
            raise StorageError(f"stored file {key} is missing") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

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


# --- S3-compatible object storage ---------------------------------------------------------------------


class _StreamingReader(io.RawIOBase):
    """A raw reader over a botocore StreamingBody, so that io.BufferedReader can give a full file object."""

    def __init__(self, body):
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _is_not_found(exc: Exception) -> bool:
    # botocore's ClientError carries the service's answer; anything else is not a "not found".
    response = getattr(exc, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    return code in ("404", "NoSuchKey", "NotFound")


class S3BlobStore(BlobStore):
    """Blobs as objects `prefix + "ab/cd/<sha256>"` in `bucket`.

    Credentials come from boto3's usual sources (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ...).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        client=None,
        spool_dir: str | Path | None = None,
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.spool_dir = spool_dir  # None: the system's temporary folder
        if client is None:
            client = self._make_client(endpoint_url, region)
        self.client = client

    @staticmethod
    def _make_client(endpoint_url: str | None, region: str):
        # Imported here so that the local store works without boto3 installed.
        import boto3
        from botocore.config import Config

        options = {}
        if endpoint_url:
            # S3-compatible services (MinIO, Ceph, Garage, most SecNumCloud providers) reliably accept
            # path-style addressing, and many reject the CRC checksums newer botocore sends by default.
            options = dict(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
        return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region, config=Config(**options))

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r}, {self.prefix!r})"

    def _object_key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
        # The key is only known once every byte has been hashed, so the file is spooled to local disk first.
        # TemporaryFile has no name on disk (or loses it at once): it is gone when closed, even after a crash.
        with _disk_full_is_a_clear_error(), tempfile.TemporaryFile(dir=self.spool_dir, suffix=".tmp") as spool:
            sha256, size = _copy_hashing(stream, spool, max_size)
            key = blob_key(sha256)
            if not self.exists(key):
                spool.seek(0)
                # upload_fileobj switches to a multipart upload for large files.
                self.client.upload_fileobj(
                    spool,
                    self.bucket,
                    self._object_key(key),
                    ExtraArgs={"ContentType": "application/octet-stream", "Metadata": {"sha256": sha256}},
                )
        return StoredBlob(key=key, sha256=sha256, size=size)

    def open(self, key: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except Exception as exc:
            if _is_not_found(exc):
                raise StorageError(f"stored file {key} is missing") from None
            raise
        return io.BufferedReader(_StreamingReader(response["Body"]), buffer_size=CHUNK_SIZE)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise
        return True


# --- configuration ------------------------------------------------------------------------------------


def store_from_config(config: Mapping, instance_path: str | Path) -> BlobStore:
    """The store that STORAGE_URL names.

    None or empty: the folder blobs/ in the instance folder; "file:///abs/path" or "/abs/path": that
    folder; "s3://bucket/optional/prefix": S3 with S3_ENDPOINT_URL (optional), S3_REGION (default
    us-east-1) and S3_SPOOL_DIR (optional: where uploads are staged while hashed).
    """
    url = config.get("STORAGE_URL")
    if not url:
        return LocalBlobStore(Path(instance_path) / "blobs")
    url = str(url)
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return LocalBlobStore(Path(unquote(parts.path)))
    if parts.scheme == "s3" and parts.netloc:
        return S3BlobStore(
            bucket=parts.netloc,
            prefix=unquote(parts.path),
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region=config.get("S3_REGION") or "us-east-1",
            spool_dir=config.get("S3_SPOOL_DIR") or None,
        )
    if not parts.scheme and os.path.isabs(url):
        return LocalBlobStore(Path(url))
    raise StorageError(
        f"STORAGE_URL {url!r} is not supported: use file:///absolute/path, an absolute path or s3://bucket/prefix"
    )


def init_app(app) -> None:
    app.extensions["evidence.store"] = store_from_config(app.config, app.instance_path)


def get_store(app) -> BlobStore:
    return app.extensions["evidence.store"]
