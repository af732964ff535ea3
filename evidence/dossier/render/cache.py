"""Rendered parts kept as files, so that a new version of a dossier lays out again only the parts that changed.

Nothing that belongs to the whole dossier is in a part (version number, classification, dates, page numbers):
a part's key (parts.part_key) changes only when its content, the static files or the renderer change.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from evidence.data.instance_files import FILE_MODE, make_folder

CACHE_LIMIT = 256 * 1024 * 1024


class PartCache:
    """Part PDFs by key, as files (written atomically; least recently used ones dropped past `limit`)."""

    def __init__(self, folder: Path, limit: int = CACHE_LIMIT):
        self.folder = Path(folder)
        self.limit = limit

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.pdf"

    def get(self, key: str) -> Optional[bytes]:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-64:]:
            return None  # not a whole file (a disk filled up, say): laid out again
        try:
            os.utime(path)  # recently used
        except OSError:
            pass
        return data

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            # The owner's only, whatever the umask: a part is a page of the dossier, evidence included.
            make_folder(path.parent)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as f:
                f.write(data)
            os.replace(temporary, path)
        except OSError:
            pass  # a cache that cannot be written is only slower

    def prune(self) -> None:
        try:
            files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.folder.glob("*/*.pdf")]
        except OSError:
            return
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.limit:
                break
            try:
                path.unlink()
                total -= size
            except OSError:
                pass
