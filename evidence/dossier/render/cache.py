"""Rendered parts kept as files, so that a new version of a dossier lays out again only the parts that changed.

Nothing that belongs to the whole dossier is in a part (version number, classification, dates, page numbers):
a part's key (parts.part_key) changes only when its content, the static files or the renderer change.
The merged dossier's font subsets are kept here too (fonts.share_fonts): one change to a dossier seldom
changes the glyphs it uses, and subsetting is a fifth of the processor time of a re-render.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

from evidence.data.instance_files import FILE_MODE, make_folder

CACHE_LIMIT = 256 * 1024 * 1024
PART, PROGRAM = ".pdf", ".ttf"  # a part's PDF, a font subset (its SHA-256 first, so that a torn one is seen)


class PartCache:
    """Part PDFs by key, as files (written atomically; least recently used ones dropped past `limit`)."""

    def __init__(self, folder: Path, limit: int = CACHE_LIMIT):
        self.folder = Path(folder)
        self.limit = limit

    def _path(self, key: str, kind: str = PART) -> Path:
        return self.folder / key[:2] / f"{key}{kind}"

    def get(self, key: str) -> Optional[bytes]:
        data = self._read(self._path(key))
        if data is None or not data.startswith(b"%PDF-") or b"%%EOF" not in data[-64:]:
            return None  # not a whole file (a disk filled up, say): laid out again
        return data

    def get_program(self, key: str) -> Optional[bytes]:
        data = self._read(self._path(key, PROGRAM))
        if data is None or hashlib.sha256(data[32:]).digest() != data[:32]:
            return None
        return data[32:]

    def put_program(self, key: str, data: bytes) -> None:
        self._write(self._path(key, PROGRAM), hashlib.sha256(data).digest() + data)

    @staticmethod
    def _read(path: Path) -> Optional[bytes]:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            os.utime(path)  # recently used
        except OSError:
            pass
        return data

    def put(self, key: str, data: bytes) -> None:
        self._write(self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
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
            files = [(p.stat().st_mtime, p.stat().st_size, p) for kind in (PART, PROGRAM)
                     for p in self.folder.glob(f"*/*{kind}")]
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
