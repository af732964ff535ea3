"""The content-addressed blob store, on a local folder and on S3 (moto's server, in-process)."""
from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import stat
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from typing import Callable

import pytest

from evidence.data.storage import (
    CHUNK_SIZE,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    StorageError,
    blob_key,
    store_from_config,
)
from evidence.data.storage import local as local_storage

MiB = 1024 * 1024


class GeneratedStream:
    """A readable stream of `size` bytes made on the fly, so the test itself holds no big bytes object.

    It hashes what it hands out, and raises OSError once `fail_after_chunks` reads have succeeded.
    """

    def __init__(self, size: int, fail_after_chunks: int | None = None):
        self.remaining = size
        self.reads = 0
        self.fail_after_chunks = fail_after_chunks
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        if self.fail_after_chunks is not None and self.reads >= self.fail_after_chunks:
            raise OSError("connection reset by peer")
        n = self.remaining if n < 0 else min(n, self.remaining)
        # Varying bytes (not one repeated chunk) so nothing can be deduplicated or compressed away.
        chunk = (self.reads.to_bytes(8, "big") * (n // 8 + 1))[:n]
        self.reads += 1
        self.remaining -= n
        self.sha256.update(chunk)
        return chunk


# --- backends -----------------------------------------------------------------------------------------


@dataclass
class Backend:
    """A store plus the out-of-band operations a test needs to reach behind its back."""

    store: BlobStore
    stored_keys: Callable[[], list[str]]  # every blob key actually present in the backend
    leftovers: Callable[[], list[str]]  # temporary files that should not outlive a put
    overwrite: Callable[[str, bytes], None]  # change a blob's bytes as a faulty disk or an intruder would
    remove: Callable[[str], None]
    plant: Callable[[str, bytes], None]  # put bytes under any name in the backend, past the store's checks


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "test")
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            bucket = "evidence-test"
            S3BlobStore(bucket, endpoint_url=endpoint).client.create_bucket(Bucket=bucket)
            yield endpoint, bucket
        finally:
            server.stop()


def _local_backend(tmp_path) -> Backend:
    root = tmp_path / "blobs"

    def stored_keys():
        return sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.parent != root / "tmp"
        )

    def overwrite(key, data):
        path = root / key
        path.chmod(0o640)  # blobs are created read-only
        path.write_bytes(data)

    def plant(name, data):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)

    return Backend(
        store=LocalBlobStore(root),
        stored_keys=stored_keys,
        leftovers=lambda: sorted(p.name for p in (root / "tmp").glob("*")) if (root / "tmp").exists() else [],
        overwrite=overwrite,
        remove=lambda key: (root / key).unlink(),
        plant=plant,
    )


def _s3_backend(tmp_path, endpoint, bucket) -> Backend:
    # A fresh prefix per test keeps tests apart in the module's one bucket (and exercises prefixes).
    spool = tmp_path / "spool"
    spool.mkdir()
    store = S3BlobStore(bucket, prefix=f"t-{uuid.uuid4().hex[:8]}/", endpoint_url=endpoint, spool_dir=spool)
    client = store.client

    def stored_keys():
        listing = client.list_objects_v2(Bucket=bucket, Prefix=store.prefix)
        return sorted(o["Key"].removeprefix(store.prefix) for o in listing.get("Contents", []))

    return Backend(
        store=store,
        stored_keys=stored_keys,
        leftovers=lambda: sorted(p.name for p in spool.iterdir()),
        overwrite=lambda key, data: client.put_object(Bucket=bucket, Key=store.prefix + key, Body=data),
        remove=lambda key: client.delete_object(Bucket=bucket, Key=store.prefix + key),
        plant=lambda name, data: client.put_object(Bucket=bucket, Key=store.prefix + name, Body=data),
    )


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> Backend:
    if request.param == "local":
        return _local_backend(tmp_path)
    # Only the S3 runs start the server.
    return _s3_backend(tmp_path, *request.getfixturevalue("s3_server"))


# --- both backends ------------------------------------------------------------------------------------


def test_put_then_open_round_trip(backend):
    data = b"evidence: firewall rules export\n" * 1000
    blob = backend.store.put(io.BytesIO(data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size == len(data)
    assert blob.key == f"{blob.sha256[:2]}/{blob.sha256[2:4]}/{blob.sha256}"
    assert backend.store.exists(blob.key)
    with backend.store.open(blob.key) as f:
        assert f.read(10) == data[:10]
        assert f.read() == data[10:]
    assert backend.stored_keys() == [blob.key]
    assert backend.leftovers() == []


def test_empty_file(backend):
    blob = backend.store.put(io.BytesIO(b""))
    assert (blob.sha256, blob.size) == (hashlib.sha256(b"").hexdigest(), 0)
    with backend.store.open(blob.key) as f:
        assert f.read() == b""


def test_identical_content_is_stored_once(backend):
    data = os.urandom(3 * CHUNK_SIZE + 17)  # several chunks, the last one short
    first = backend.store.put(io.BytesIO(data))
    second = backend.store.put(io.BytesIO(data))
    assert first == second
    assert backend.stored_keys() == [first.key]
    assert backend.leftovers() == []
    with backend.store.open(first.key) as f:
        assert f.read() == data


def test_exceeding_max_size_leaves_nothing_behind(backend):
    with pytest.raises(StorageError, match="le fichier dépasse la taille maximale de 2097152 octets"):
        backend.store.put(GeneratedStream(2 * MiB + 1), max_size=2 * MiB)
    assert backend.stored_keys() == []
    assert backend.leftovers() == []
    # Exactly at the limit is fine.
    assert backend.store.put(GeneratedStream(2 * MiB), max_size=2 * MiB).size == 2 * MiB


def test_stream_failing_halfway_leaves_no_blob(backend):
    with pytest.raises(OSError, match="connection reset"):
        backend.store.put(GeneratedStream(10 * MiB, fail_after_chunks=3))
    assert backend.stored_keys() == []
    assert backend.leftovers() == []


def test_verify_detects_corruption_and_loss(backend):
    data = b"signed audit report"
    blob = backend.store.put(io.BytesIO(data))
    assert backend.store.verify(blob.key, blob.sha256) is None
    backend.overwrite(blob.key, b"signed audit rep0rt")
    assert backend.store.verify(blob.key, blob.sha256) == "corrupt"
    backend.remove(blob.key)
    assert backend.store.verify(blob.key, blob.sha256) == "missing"
    assert not backend.store.exists(blob.key)
    with pytest.raises(StorageError, match="introuvable"):
        backend.store.open(blob.key)


def test_keys_lists_every_blob_in_key_order_and_nothing_else(backend):
    assert list(backend.store.keys()) == []
    blobs = [backend.store.put(io.BytesIO(f"evidence {i}".encode())) for i in range(5)]
    backend.store.put(io.BytesIO(b"evidence 0"))  # stored once, listed once
    keys = backend.store.keys()
    assert iter(keys) is keys  # an iterator, read as it goes: a store may hold millions of blobs
    assert list(keys) == sorted(blob.key for blob in blobs)
    # What is not a blob key is not listed: a stray file, one in folders that do not match its hash, a
    # temporary file, a folder that is not hex, and (S3) an object just outside the store's prefix.
    sha256 = "ab" * 32
    for name in ["README", "00/00/" + sha256, "tmp/x.tmp", "zz/zz/" + sha256, "ab/ab/" + sha256 + ".tmp",
                 "ab/ab/" + sha256 + "/x"]:
        backend.plant(name, b"not a blob")
    if isinstance(backend.store, S3BlobStore):
        backend.store.client.put_object(Bucket=backend.store.bucket, Key=backend.store.prefix.rstrip("/") + "x/"
                                        + blob_key("cd" * 32), Body=b"another store's")
    assert list(backend.store.keys()) == sorted(blob.key for blob in blobs)
    backend.remove(blobs[0].key)
    assert list(backend.store.keys()) == sorted(blob.key for blob in blobs[1:])


BAD_KEYS = [
    "../../etc/passwd",
    "/etc/passwd",
    "ab/cd/../../../etc/passwd",
    "ab/cd/" + "ab" * 32 + "/../x",
    "00/00/" + "ab" * 32,  # folders that do not match the hash
    "AB/AB/" + "AB" * 32,  # upper case
    "ab" * 32,  # no folders
    "",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_malformed_keys_are_refused(backend, key):
    for operation in (backend.store.open, backend.store.exists, lambda k: backend.store.verify(k, "0" * 64)):
        with pytest.raises(StorageError, match="clé de stockage .* invalide"):
            operation(key)


def test_large_file_round_trip(backend):
    # Past boto3's 8 MiB multipart threshold, and many local chunks.
    stream = GeneratedStream(12 * MiB + 5)
    blob = backend.store.put(stream)
    assert blob.sha256 == stream.sha256.hexdigest()
    assert blob.size == 12 * MiB + 5
    with backend.store.open(blob.key) as f:
        digest = hashlib.sha256()
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
    assert digest.hexdigest() == blob.sha256
    assert backend.store.verify(blob.key, blob.sha256) is None


# --- local store --------------------------------------------------------------------------------------


def test_local_layout_and_read_only_blobs(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    blob = store.put(io.BytesIO(b"x"))
    path = tmp_path / "blobs" / blob.key
    assert path.read_bytes() == b"x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o400  # read-only, and the owner's only
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_local_delete_orphan_temporaries(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    assert store.delete_orphan_temporaries() == 0  # no tmp folder yet
    tmp = tmp_path / "blobs" / "tmp"
    tmp.mkdir(parents=True)
    old, fresh, other = tmp / "old.tmp", tmp / "fresh.tmp", tmp / "notes.txt"
    for path in (old, fresh, other):
        path.write_bytes(b"half-written")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(old, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    assert store.delete_orphan_temporaries() == 1
    assert not old.exists() and fresh.exists() and other.exists()


def _batch_of(store, count: int) -> list:
    with store.batch() as batch:
        blobs = [batch.put(io.BytesIO(b"blob %d" % i)) for i in range(count)]
        batch.sync()
    return blobs


@pytest.mark.skipif(local_storage._SYNCFS is None, reason="syncfs(2) with write-back errors is Linux 5.8 and later")
def test_a_large_batch_is_made_durable_by_two_syncs_of_its_filesystem(tmp_path, monkeypatch):
    """Files first, then their names: a name is only given once the file's bytes are on disk. The syncs go through
    a descriptor of the store opened before the first file was written: syncfs reports the failed write-backs
    since its descriptor was opened, and the kernel may write a file back before the sync is asked for."""
    store, calls, opened = LocalBlobStore(tmp_path / "blobs"), [], []

    def syncfs(fd, root):
        calls.append(sorted(p.name for p in root.glob("*/*/*")))  # the names given so far
        opened.append((fd, os.fstat(fd).st_ino))
        local_storage._SYNCFS_REAL(fd, root)

    monkeypatch.setattr(local_storage, "_SYNCFS_REAL", local_storage._SYNCFS, raising=False)
    monkeypatch.setattr(local_storage, "_SYNCFS", syncfs)
    fsynced = []
    monkeypatch.setattr(local_storage, "_fsync_file", lambda path, flags=0: fsynced.append(path))
    with store.batch() as batch:
        before_any_file = batch._filesystem
        assert before_any_file is not None and list(store.tmp_dir.iterdir()) == []
        blobs = [batch.put(io.BytesIO(b"blob %d" % i)) for i in range(local_storage.LocalBatch.SYNCFS_FROM)]
        batch.sync()
    assert set(fsynced) <= {tmp_path, tmp_path / "blobs"}  # only the parents of the folder for temporaries
    assert len(calls) == 2 and calls[0] == [] and calls[1] == sorted(b.sha256 for b in blobs)
    assert opened == [(before_any_file, (tmp_path / "blobs").stat().st_ino)] * 2
    assert [store.open(b.key).read() for b in blobs] == [b"blob %d" % i for i in range(len(blobs))]
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
    assert batch._filesystem is None  # closed with the batch


def test_a_small_batch_fsyncs_each_file_and_folder(tmp_path, monkeypatch):
    store, synced = LocalBlobStore(tmp_path / "blobs"), []
    real = local_storage._fsync_file
    monkeypatch.setattr(local_storage, "_SYNCFS", lambda _fd, _root: pytest.fail("a small batch syncs no filesystem"))
    monkeypatch.setattr(local_storage, "_fsync_file", lambda path, flags=0: (synced.append(path), real(path, flags)))
    _batch_of(store, 3)
    assert sum(p.suffix == ".tmp" for p in synced) == 3


def test_a_failed_filesystem_sync_fails_the_batch_and_every_later_one(tmp_path, monkeypatch):
    def failing(_fd, _root):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(local_storage, "_SYNCFS", failing)
    store = LocalBlobStore(tmp_path / "blobs")
    with store.batch() as batch:
        for i in range(local_storage.LocalBatch.SYNCFS_FROM):
            batch.put(io.BytesIO(b"blob %d" % i))
        with pytest.raises(OSError, match="Input/output error"):
            batch.sync()
        batch.put(io.BytesIO(b"later"))
        with pytest.raises(OSError, match="Input/output error"):  # blobs of the failed sync may be lost
            batch.sync()
    assert list(store.keys()) == [] and list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_local_put_memory_stays_flat(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    stream = GeneratedStream(64 * MiB)
    tracemalloc.start()
    try:
        blob = store.put(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == 64 * MiB and blob.sha256 == stream.sha256.hexdigest()
    assert peak < 8 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"


# --- S3 store -----------------------------------------------------------------------------------------


def test_s3_object_metadata(s3_server, tmp_path):
    backend = _s3_backend(tmp_path, *s3_server)
    blob = backend.store.put(io.BytesIO(b"metadata"))
    head = backend.store.client.head_object(Bucket=backend.store.bucket, Key=backend.store.prefix + blob.key)
    assert head["ContentType"] == "application/octet-stream"
    assert head["Metadata"] == {"sha256": blob.sha256}
    assert backend.store.delete_orphan_temporaries() == 0


def test_s3_identical_content_is_not_uploaded_again(s3_server, tmp_path, monkeypatch):
    backend = _s3_backend(tmp_path, *s3_server)
    uploads = []
    upload = backend.store.client.upload_fileobj

    def counting_upload(*args, **kwargs):
        uploads.append(args)
        return upload(*args, **kwargs)

    monkeypatch.setattr(backend.store.client, "upload_fileobj", counting_upload)
    backend.store.put(io.BytesIO(b"same"))
    backend.store.put(io.BytesIO(b"same"))
    assert len(uploads) == 1
    assert backend.stored_keys() == [blob_key(hashlib.sha256(b"same").hexdigest())]


# --- keys and configuration ---------------------------------------------------------------------------


def test_blob_key():
    digest = hashlib.sha256(b"a").hexdigest()
    assert blob_key(digest) == f"{digest[:2]}/{digest[2:4]}/{digest}"
    for bad in (digest.upper(), digest[:-1], digest + "0", "g" * 64, "../" + digest[3:], None):
        with pytest.raises(ValueError):
            blob_key(bad)


def test_config_default_is_the_instance_blobs_folder(tmp_path):
    for value in (None, ""):
        store = store_from_config({"STORAGE_URL": value}, tmp_path)
        assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "blobs"
    assert store_from_config({}, str(tmp_path)).root == tmp_path / "blobs"


def test_config_local_folder(tmp_path):
    store = store_from_config({"STORAGE_URL": f"file://{tmp_path}/evidence%20blobs"}, "/unused")
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "evidence blobs"
    store = store_from_config({"STORAGE_URL": str(tmp_path / "plain")}, "/unused")
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "plain"


def test_config_s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    config = {
        "STORAGE_URL": "s3://evidence-bucket/snc/prod/",
        "S3_ENDPOINT_URL": "https://s3.example.test",
        "S3_REGION": "fr-par",
    }
    store = store_from_config(config, "/unused")
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("evidence-bucket", "snc/prod/")
    assert store.client.meta.endpoint_url == "https://s3.example.test"
    assert store.client.meta.region_name == "fr-par"

    store = store_from_config({"STORAGE_URL": "s3://evidence-bucket"}, "/unused")
    assert (store.bucket, store.prefix) == ("evidence-bucket", "")
    assert store.client.meta.region_name == "us-east-1"


@pytest.mark.parametrize("value", ["ftp://host/blobs", "relative/blobs", "s3://", "file://host/blobs", "file:blobs"])
def test_config_refuses_other_values(value):
    with pytest.raises(StorageError, match="STORAGE_URL") as excinfo:
        store_from_config({"STORAGE_URL": value}, "/unused")
    assert f"« {value} »" in str(excinfo.value)
