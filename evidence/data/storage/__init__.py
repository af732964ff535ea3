"""Content-addressed blob store for evidence files, on a local folder or on S3-compatible object storage.

The interface and the key scheme are in storage.base, the backends in storage.local and storage.s3. The
backend is chosen by STORAGE_URL alone (see `store_from_config`); both offer the same interface.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlsplit

from evidence.core.errors import N_
from evidence.data.storage.base import (
    CHUNK_SIZE,
    BlobStore,
    StorageError,
    StoredBlob,
    blob_key,
    check_key,
    copy_hashing,
    hash_stream,
    is_blob_key,
)
from evidence.data.storage.local import BLOB_MODE, ORPHAN_AGE_SECONDS, LocalBlobStore
from evidence.data.storage.s3 import S3BlobStore

__all__ = [
    "BLOB_MODE", "CHUNK_SIZE", "ORPHAN_AGE_SECONDS", "BlobStore", "LocalBlobStore", "S3BlobStore", "StorageError",
    "StoredBlob", "blob_key", "check_key", "copy_hashing", "get_store", "hash_stream", "init_app", "is_blob_key",
    "store_from_config",
]


def store_from_config(config: Mapping, instance_path: str | Path) -> BlobStore:
    """The store that STORAGE_URL names.

    None or empty: the folder blobs/ in the instance folder; "file:///abs/path" or "/abs/path": that
    folder; "s3://bucket/optional/prefix": S3 with S3_ENDPOINT_URL (optional), S3_REGION (default
    us-east-1) and S3_SPOOL_DIR (optional: where uploads are staged while hashed).
    """
    url = config.get("STORAGE_URL")
    if not url:
        return LocalBlobStore(Path(instance_path) / "blobs")
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
    raise StorageError(N_("STORAGE_URL « %(url)s » n’est pas pris en charge : utilisez file:///chemin/absolu, un "
                          "chemin absolu ou s3://bucket/prefixe"), url=url)


def init_app(app) -> None:
    app.extensions["evidence.store"] = store_from_config(app.config, app.instance_path)


def get_store(app) -> BlobStore:
    return app.extensions["evidence.store"]
