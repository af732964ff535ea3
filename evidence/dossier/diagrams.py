"""Architecture diagrams embedded in the dossier, made safe first.

A diagram is a file a user uploaded: the dossier takes it only when its bytes are a PNG or a JPEG (whatever its
name or declared media type says), no larger than MAX_PIXELS (a small file can unpack into gigabytes of
pixels), and always re-encoded as a fresh PNG: no metadata, no colour profile, no trailing data, nothing of
the original file but its pixels reaches WeasyPrint. The result goes into the HTML as a data: URI, so that the
URL fetcher keeps refusing every URL (data: ones included) and the cached parts depend on the bytes only.
"""
from __future__ import annotations

import base64
import io
from typing import Optional

MAX_PIXELS = 40_000_000  # about 8000 × 5000: any real diagram; far below what would exhaust memory
MAX_SIDE = 2400  # pixels kept on the longer side: enough for an A4 page at 200 dpi, and a small PDF
SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG


def safe_image(data: bytes) -> Optional[bytes]:
    """The image as a clean PNG, or None when `data` is not a PNG or a JPEG the dossier can take."""
    if not data or not data.startswith(SIGNATURES):
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=("PNG", "JPEG")) as image:
            width, height = image.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                return None
            image.load()
            # Palette, grey, alpha or CMYK in, RGB(A) out: one predictable encoding for WeasyPrint.
            clean = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    if max(clean.size) > MAX_SIDE:
        clean.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=False)  # a new file: no EXIF, text chunks or ICC profile carried over
    return out.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def inline_images(snapshot: dict, store) -> dict[str, str]:
    """sha256 → data: URI of each diagram of the snapshot that is a safe image; a diagram that is not (or whose
    file cannot be read) is left out, and the dossier lists it without embedding it."""
    images: dict[str, str] = {}
    if store is None:
        return images
    for diagram in snapshot.get("diagrams") or []:
        sha, key = diagram.get("sha256"), diagram.get("storage_key")
        if not diagram.get("cited") or not sha or not key or sha in images:
            continue
        try:
            with store.open(key) as handle:
                data = handle.read(64 * 1024 * 1024 + 1)
        except Exception:  # noqa: BLE001  (a missing or unreadable blob: the diagram is listed, not embedded)
            continue
        png = safe_image(data) if len(data) <= 64 * 1024 * 1024 else None
        if png is not None:
            images[sha] = data_uri(png)
    return images
