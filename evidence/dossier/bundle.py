"""The evidence bundle: a zip for the evaluator with a dossier, every file it pins and a manifest of SHA-256
hashes, and its offline verification (`evidence export bundle`, `evidence verify-bundle`).

The manifest (manifest.json) comes from the snapshot alone (`manifest_bytes`): the same snapshot always gives
the same bytes, so that its SHA-256 is known when the version is queued, recorded in the dossier row and its
audit event, written in the dossier PDF's metadata (inside the signed revision when the PDF is signed) and
checked by `verify-bundle` against the PDF the bundle carries. The manifest names the PDF but does not hash
it: the PDF carries the manifest's hash, not the other way round.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Optional

from evidence.core.errors import N_, EvidenceError, Message
from evidence.data.files import atomic_write
from evidence.services.uploads import safe_filename

BUNDLE_MANIFEST = "manifest.json"
MANIFEST_FORMAT = 2  # 2: from the snapshot alone, its hash in the dossier PDF
# The largest manifest its entries justify: a fixed header (perimeter, version, date, the PDF's name) plus, per
# listed file or link, its fields (a path of at most ~250 characters, a SHA-256, a size, a ref, a URL) and, per
# item it proves, the item's ref. Anything beyond is padding (room to hide something in) and is refused.
MANIFEST_HEADER_BOUND = 2048
MANIFEST_ENTRY_BOUND = 2048
MANIFEST_ITEM_BOUND = 48


def evidence_file_name(evidence: dict) -> str:
    """The name a pinned evidence file takes outside the instance: in the bundle (under evidence/) and as the
    dossier's attachment (/F and /UF). One rule: "{ref}-v{version}-{safe file name}"."""
    return f"{evidence['ref']}-v{evidence['version']}-{safe_filename(evidence.get('file_name') or 'file')}"


def _bundle_name(evidence: dict) -> str:
    return f"evidence/{evidence_file_name(evidence)}"


def dossier_pdf_name(snapshot: dict) -> str:
    return f"dossier-secnumcloud-{snapshot['perimeter']['code']}-v{snapshot.get('number')}.pdf"


def _items_of(snapshot: dict) -> dict[str, list[str]]:
    items_of: dict[str, list[str]] = {}
    for item in snapshot["items"]:
        for ref in item["evidence"]:
            items_of.setdefault(ref, []).append(item["ref"])
    return items_of


def _manifest(snapshot: dict) -> dict:
    items_of = _items_of(snapshot)
    files = [{"path": _bundle_name(e), "sha256": e["sha256"], "size": e["size"], "evidence": e["ref"],
              "version": e["version"], "items": items_of.get(e["ref"], [])}
             for e in snapshot["evidence"] if e.get("storage_key")]
    links = [{"evidence": e["ref"], "version": e["version"], "url": e["url"], "items": items_of.get(e["ref"], [])}
             for e in snapshot["evidence"] if e.get("url")]
    return {"format": MANIFEST_FORMAT, "perimeter": snapshot["perimeter"]["code"],
            "dossier_version": snapshot.get("number"), "date": snapshot["today"], "dossier": dossier_pdf_name(snapshot),
            "files": files, "links": links}


def _serialise(manifest: dict) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def manifest_bytes(snapshot: dict) -> bytes:
    """The bundle's manifest.json, from the snapshot alone (set snapshot["number"] first)."""
    return _serialise(_manifest(snapshot))


def manifest_sha256(snapshot: dict) -> str:
    return hashlib.sha256(manifest_bytes(snapshot)).hexdigest()


def manifest_bound(manifest: dict) -> int:
    """The most bytes a manifest with these entries can take (see MANIFEST_*_BOUND)."""
    entries = list(manifest.get("files") or []) + list(manifest.get("links") or [])
    items = sum(len(entry.get("items") or []) for entry in entries if isinstance(entry, dict))
    return MANIFEST_HEADER_BOUND + MANIFEST_ENTRY_BOUND * len(entries) + MANIFEST_ITEM_BOUND * items


def write_bundle(snapshot: dict, pdf: bytes, store, path: Path) -> dict:
    """A zip for the evaluator: the dossier PDF (the signed one when there is one, else the approved or draft
    one: the caller chooses), every pinned evidence file (once, by evidence ref), manifest.json (exactly
    manifest_bytes(snapshot)) and manifest.csv, the same listing for a spreadsheet."""
    manifest = _manifest(snapshot)
    data = _serialise(manifest)
    stamp = tuple(int(x) for x in snapshot["today"].split("-")) + (0, 0, 0)  # stable zip entries
    pinned = {_bundle_name(e): e for e in snapshot["evidence"] if e.get("storage_key")}

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(zipfile.ZipInfo(manifest["dossier"], stamp), pdf)
            for entry in manifest["files"]:
                evidence = pinned[entry["path"]]
                digest, size = hashlib.sha256(), 0
                info = zipfile.ZipInfo(entry["path"], stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                with store.open(evidence["storage_key"]) as source, archive.open(info, "w", force_zip64=True) as target:
                    while chunk := source.read(1024 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
                        target.write(chunk)
                if digest.hexdigest() != evidence["sha256"]:
                    raise EvidenceError(N_("%(ref)s v%(version)s : le fichier enregistré ne correspond plus à son SHA-256 ; lancez `evidence verify`"),
                                        ref=evidence["ref"], version=evidence["version"])
            archive.writestr(zipfile.ZipInfo(BUNDLE_MANIFEST, stamp), data)
            rows = io.StringIO()
            writer = csv.writer(rows)
            writer.writerow(["path", "sha256", "size", "evidence", "version", "items"])
            for entry in manifest["files"]:
                writer.writerow([entry["path"], entry["sha256"], entry["size"], entry["evidence"], entry["version"],
                                 ";".join(entry["items"])])
            archive.writestr(zipfile.ZipInfo("manifest.csv", stamp), rows.getvalue().encode("utf-8"))

    atomic_write(Path(path), write)
    return {"files": len(manifest["files"]), "links": len(manifest["links"]),
            "manifest_sha256": hashlib.sha256(data).hexdigest()}


def verify_bundle(path: Path) -> tuple[int, list[Message]]:
    """Re-check a bundle offline: (files checked, problems naming each file that differs, is missing or extra).

    The manifest itself is checked first: its SHA-256 must be the one written in the bundled dossier PDF's
    metadata (and, when the PDF is signed, inside what the signature covers), and its size within what its
    entries justify (manifest_bound)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise EvidenceError(N_("%(path)s : pas un fichier zip lisible (%(reason)s)"), path=path, reason=error) from None
    with archive:
        try:
            info = archive.getinfo(BUNDLE_MANIFEST)
        except KeyError:
            raise EvidenceError(N_("%(path)s : pas de %(manifest)s dans le lot"), path=path,
                                manifest=BUNDLE_MANIFEST) from None
        if info.file_size > 64 * 1024 * 1024:
            raise EvidenceError(N_("%(path)s : %(manifest)s fait %(size)s octets, bien plus que tout manifeste"),
                                path=path, manifest=BUNDLE_MANIFEST, size=info.file_size)
        data = archive.read(info)
        try:
            manifest = json.loads(data)
        except ValueError as error:
            raise EvidenceError(N_("%(path)s : %(manifest)s n’est pas du JSON valide (%(reason)s)"), path=path,
                                manifest=BUNDLE_MANIFEST, reason=error) from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files", []), list):
            raise EvidenceError(N_("%(path)s : %(manifest)s n’est pas un objet manifeste"), path=path,
                                manifest=BUNDLE_MANIFEST)
        problems = []
        bound = manifest_bound(manifest)
        if len(data) > bound:
            problems.append(Message(N_("%(manifest)s : %(size)s octets, plus que ne le justifient ses entrées "
                                       "(%(bound)s) : refusé"), manifest=BUNDLE_MANIFEST, size=len(data), bound=bound))
        problems += _check_manifest_hash(archive, manifest, hashlib.sha256(data).hexdigest())
        listed = {entry["path"]: entry for entry in manifest.get("files", []) if isinstance(entry, dict)}
        dossier = manifest.get("dossier")
        present = set(archive.namelist()) - {BUNDLE_MANIFEST, "manifest.csv", dossier}
        problems += [Message(N_("%(name)s : dans le manifeste mais absent du lot"), name=name)
                     for name in sorted(set(listed) - present)]
        problems += [Message(N_("%(name)s : dans le lot mais pas dans le manifeste"), name=name)
                     for name in sorted(present - set(listed))]
        for name in sorted(set(listed) & present):
            digest = hashlib.sha256()
            with archive.open(name) as f:
                while chunk := f.read(1024 * 1024):
                    digest.update(chunk)
            if digest.hexdigest() != listed[name].get("sha256"):
                problems.append(Message(N_("%(name)s : le SHA-256 diffère de celui du manifeste (altéré)"), name=name))
        return len(listed) + (1 if dossier else 0), problems


def _check_manifest_hash(archive: zipfile.ZipFile, manifest: dict, actual: str) -> list[Message]:
    """The manifest's SHA-256 against the one the bundled dossier PDF records (see pdf.MANIFEST_INFO_KEY)."""
    from evidence.dossier.pdf import recorded_manifest_sha256

    dossier = manifest.get("dossier")
    if not isinstance(dossier, str) or dossier not in archive.namelist():
        return [Message(N_("%(manifest)s : ne nomme aucun PDF de dossier présent dans le lot (%(dossier)s) : refusé"),
                        manifest=BUNDLE_MANIFEST, dossier=repr(dossier))]
    pdf = archive.read(dossier)
    expected: Optional[str] = recorded_manifest_sha256(pdf)
    problems = []
    if expected is None:
        return [Message(N_("%(dossier)s : n’enregistre aucun SHA-256 de manifeste : le manifeste ne peut pas être "
                           "vérifié : refusé"), dossier=dossier)]
    if expected != actual:
        problems.append(Message(N_("%(manifest)s : le SHA-256 %(actual)s diffère de celui qu’enregistre %(dossier)s "
                                   "(%(expected)s) : le manifeste a été altéré : refusé"), manifest=BUNDLE_MANIFEST,
                                actual=actual, dossier=dossier, expected=expected))
    from evidence.dossier import signing

    if signing.is_signed(pdf):
        report = signing.check_signature(pdf)
        if not report.intact:
            problems.append(Message(N_("%(dossier)s : sa signature ne correspond pas à son contenu (altéré après la "
                                       "signature)"), dossier=dossier))
        elif not report.covers_whole_file:
            problems.append(Message(N_("%(dossier)s : du contenu a été ajouté après la signature : son SHA-256 de "
                                       "manifeste n’est pas celui qui a été signé"), dossier=dossier))
    return problems
