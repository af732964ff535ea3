"""Uploaded evidence files: the type sniffed from the bytes, a name safe to show, storing while hashing.

Used by the evidence service (one upload) and the importer (many, from worker threads).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO, Optional

from evidence.core.errors import N_, EvidenceError

# An empty file proves nothing: most often the wrong file was picked, or a copy or an export failed on the way.
EMPTY_FILE = N_("« %(name)s » est vide (0 octet) : un fichier vide ne prouve rien ; choisissez le bon fichier")

_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"-----BEGIN CERTIFICATE-----", "application/x-pem-file"),
)
_OFFICE = {".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
           ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
           ".odt": "application/vnd.oasis.opendocument.text", ".ods": "application/vnd.oasis.opendocument.spreadsheet"}


def sniff_media_type(head: bytes, filename: str = "") -> str:
    """The media type from the file's first bytes (the client's claim is never trusted).

    Markup (HTML, SVG, XML) is reported as what it is so that the UI can warn; downloads are attachments
    whatever the type, so it never renders in the app's origin.
    """
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            if media_type == "application/zip":
                return _OFFICE.get(_extension(filename), media_type)
            return media_type
    if head[4:12] in (b"ftypisom", b"ftypmp42"):
        return "video/mp4"
    try:
        text = head.decode("utf-8") if head else ""
    except UnicodeDecodeError as error:
        # The head may cut a multi-byte character; only bytes before the cut matter.
        if error.start < len(head) - 4:
            return "application/octet-stream"
        text = head[:error.start].decode("utf-8")
    if "\x00" in text:
        return "application/octet-stream"
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith("<svg") or (stripped.startswith("<?xml") and "<svg" in stripped):
        return "image/svg+xml"
    if stripped.startswith(("<!doctype html", "<html")) or "<script" in stripped[:512]:
        return "text/html"
    if stripped.startswith("<?xml"):
        return "application/xml"
    if stripped.startswith(("{", "[")) and _extension(filename) == ".json":
        return "application/json"
    if _extension(filename) == ".csv":
        return "text/csv"
    if _extension(filename) in (".md", ".markdown"):
        return "text/markdown"
    return "text/plain"


def _extension(filename: str) -> str:
    match = re.search(r"(\.[A-Za-z0-9]{1,8})$", filename or "")
    return match.group(1).lower() if match else ""


def safe_filename(name: str) -> str:
    """The client's file name reduced to something safe to show and to offer back as a download name.

    It is never used as a path: blobs are stored under their hash.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]  # drop any directory part, Windows or POSIX
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")  # control and format characters
    name = name.strip().strip(".") or "file"
    return name[:200]


@dataclass(frozen=True)
class StoredUpload:
    key: str
    sha256: str
    size: int
    media_type: str


class _Prefixed:
    """A stream whose first bytes were already read (to sniff the type), read again from the start."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


def check_not_empty(size: int, filename: str) -> None:
    """Refuse an empty file as evidence, naming it (the importer checks the size before reading the file)."""
    if size == 0:
        raise EvidenceError(EMPTY_FILE, name=safe_filename(filename), field="file")


def store_upload(store, upload: BinaryIO, filename: str, max_size: Optional[int]) -> StoredUpload:
    """Store an uploaded file (hashed while copied, in one pass) and sniff its type from its first bytes;
    an empty one is refused before anything is stored."""
    head = upload.read(8192)
    check_not_empty(len(head), filename)
    blob = store.put(_Prefixed(head, upload), max_size=max_size)
    return StoredUpload(blob.key, blob.sha256, blob.size, sniff_media_type(head, filename))
