"""The dossier's URL fetcher: WeasyPrint gets the package's static files and the dossier's inlined PNG diagrams,
and nothing else (the evidence files are attached at merge time, never fetched by WeasyPrint).

Standard library only (WeasyPrint is imported when a fetcher is made): worker processes load this file by
path, without the application's package (see parts.py).
"""
from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Optional

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # evidence/
ASSET_SCHEME = "evidence-asset:"
STATIC_DIR = PACKAGE_DIR / "static"
PNG_DATA = "data:image/png;base64,"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_DATA_URL = 48 * 1024 * 1024  # characters of base64: a 36 MB PNG, far above any diagram


def safe_fetcher(refused: Optional[list] = None):
    """A WeasyPrint URL fetcher that serves the package's static files and the dossier's own inlined PNG
    diagrams (data:image/png), and refuses everything else: http(s), file, any other data: URL, and anything
    a user could have typed. What it refused is appended to `refused`."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class SafeFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith(ASSET_SCHEME):
                relative = url[len(ASSET_SCHEME):].lstrip("/")
                path = (STATIC_DIR / relative).resolve()
                if path.is_file() and STATIC_DIR.resolve() in path.parents:
                    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": media_type})
            elif url.startswith(PNG_DATA) and len(url) <= MAX_DATA_URL:
                # The architecture diagrams, inlined by the dossier as PNGs it re-encoded itself
                # (diagrams.safe_image): the only data: URLs taken, and only when they hold a PNG.
                try:
                    data = base64.b64decode(url[len(PNG_DATA):], validate=True)
                except ValueError:
                    data = b""
                if data.startswith(PNG_SIGNATURE):
                    return URLFetcherResponse(url[:64], data, {"Content-Type": "image/png"})
            if refused is not None:
                refused.append(url)
            raise ValueError(f"refused by the dossier's URL fetcher: {url[:200]}")

    return SafeFetcher()
