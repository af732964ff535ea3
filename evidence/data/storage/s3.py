"""Blobs in S3-compatible object storage."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from evidence.core.errors import N_
from evidence.data.storage.base import (
    CHUNK_SIZE,
    BlobStore,
    StorageError,
    StoredBlob,
    blob_key,
    check_key,
    copy_hashing,
    disk_full_is_a_clear_error,
    is_blob_key,
)


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

    kind = "s3"

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
        return self.prefix + check_key(key)

    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
        # The key is only known once every byte has been hashed, so the file is spooled to local disk first.
        # TemporaryFile has no name on disk (or loses it at once): it is gone when closed, even after a crash.
        with disk_full_is_a_clear_error(), tempfile.TemporaryFile(dir=self.spool_dir, suffix=".tmp") as spool:
            sha256, size = copy_hashing(stream, spool, max_size)
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
                raise StorageError(N_("le fichier stocké %(key)s est introuvable"), key=key) from None
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

    def keys(self) -> Iterator[str]:
        # S3 lists in ascending UTF-8 order, which for hex keys is key order; a page at a time.
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix):]
                if is_blob_key(key):
                    yield key
