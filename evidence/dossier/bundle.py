"""The evidence bundle: a zip for the evaluator with a dossier, every file it pins and a manifest of SHA-256
hashes, and its offline verification (`evidence export bundle`, `evidence verify-bundle`)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

from evidence.core.errors import EvidenceError
from evidence.data.files import atomic_write
from evidence.services.uploads import safe_filename

BUNDLE_MANIFEST = "manifest.json"


def _bundle_name(evidence: dict) -> str:
    return f"evidence/{evidence['ref']}-v{evidence['version']}-{safe_filename(evidence['file_name'] or 'file')}"


def write_bundle(snapshot: dict, pdf: bytes, pdf_name: str, store, path: Path) -> dict:
    """A zip for the evaluator: the dossier, every pinned evidence file (once, by evidence ref), and
    manifest.csv / manifest.json giving the SHA-256 of every file and the items each one proves."""
    items_of: dict[str, list[str]] = {}
    for item in snapshot["items"]:
        for ref in item["evidence"]:
            items_of.setdefault(ref, []).append(item["ref"])
    stamp = tuple(int(x) for x in snapshot["today"].split("-")) + (0, 0, 0)  # stable zip entries
    files = [{"path": pdf_name, "sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf), "evidence": None,
              "version": None, "items": []}]

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(zipfile.ZipInfo(pdf_name, stamp), pdf)
            for evidence in snapshot["evidence"]:
                if not evidence.get("storage_key"):
                    continue  # link evidence: the address is in the manifest and the dossier
                name = _bundle_name(evidence)
                digest, size = hashlib.sha256(), 0
                info = zipfile.ZipInfo(name, stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                with store.open(evidence["storage_key"]) as source, archive.open(info, "w", force_zip64=True) as target:
                    while chunk := source.read(1024 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
                        target.write(chunk)
                if digest.hexdigest() != evidence["sha256"]:
                    raise EvidenceError(f"{evidence['ref']} v{evidence['version']}: the stored file no longer matches "
                                        f"its SHA-256; run `evidence verify`")
                files.append({"path": name, "sha256": evidence["sha256"], "size": size, "evidence": evidence["ref"],
                              "version": evidence["version"], "items": items_of.get(evidence["ref"], [])})
            links = [{"evidence": e["ref"], "version": e["version"], "url": e["url"], "items": items_of.get(e["ref"], [])}
                     for e in snapshot["evidence"] if e.get("url")]
            manifest = {"perimeter": snapshot["perimeter"]["code"], "dossier_version": snapshot.get("number"),
                        "date": snapshot["today"], "files": files, "links": links}
            archive.writestr(zipfile.ZipInfo(BUNDLE_MANIFEST, stamp),
                             json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
            rows = io.StringIO()
            writer = csv.writer(rows)
            writer.writerow(["path", "sha256", "size", "evidence", "version", "items"])
            for entry in files:
                writer.writerow([entry["path"], entry["sha256"], entry["size"], entry["evidence"] or "",
                                 entry["version"] or "", ";".join(entry["items"])])
            archive.writestr(zipfile.ZipInfo("manifest.csv", stamp), rows.getvalue().encode("utf-8"))

    atomic_write(Path(path), write)
    return {"files": len(files), "links": sum(1 for e in snapshot["evidence"] if e.get("url"))}


def verify_bundle(path: Path) -> tuple[int, list[str]]:
    """Re-check a bundle offline: (files checked, problems naming each file that differs, is missing or extra)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise EvidenceError(f"{path}: not a readable zip file ({error})") from None
    with archive:
        try:
            manifest = json.loads(archive.read(BUNDLE_MANIFEST))
        except KeyError:
            raise EvidenceError(f"{path}: no {BUNDLE_MANIFEST} in the bundle") from None
        except ValueError as error:
            raise EvidenceError(f"{path}: {BUNDLE_MANIFEST} is not valid JSON ({error})") from None
        listed = {entry["path"]: entry for entry in manifest.get("files", [])}
        present = set(archive.namelist()) - {BUNDLE_MANIFEST, "manifest.csv"}
        problems = [f"{name}: in the manifest but missing from the bundle" for name in sorted(set(listed) - present)]
        problems += [f"{name}: in the bundle but not in the manifest" for name in sorted(present - set(listed))]
        for name in sorted(set(listed) & present):
            digest = hashlib.sha256()
            with archive.open(name) as f:
                while chunk := f.read(1024 * 1024):
                    digest.update(chunk)
            if digest.hexdigest() != listed[name]["sha256"]:
                problems.append(f"{name}: SHA-256 differs from the manifest (altered)")
        return len(listed), problems
