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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

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


def bundled(evidence: dict) -> bool:
    """Whether a pinned evidence's content leaves with the dossier: not when it was withheld on a need-to-know
    basis as the dossier was queued (services.need_to_know.withhold_unreadable; the dossier names it)."""
    return not evidence.get("withheld")


def _manifest(snapshot: dict) -> dict:
    items_of = _items_of(snapshot)
    files = [{"path": _bundle_name(e), "sha256": e["sha256"], "size": e["size"], "evidence": e["ref"],
              "version": e["version"], "items": items_of.get(e["ref"], [])}
             for e in snapshot["evidence"] if e.get("storage_key") and bundled(e)]
    links = [{"evidence": e["ref"], "version": e["version"], "url": e["url"], "items": items_of.get(e["ref"], [])}
             for e in snapshot["evidence"] if e.get("url") and bundled(e)]
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
    manifest_bytes(snapshot)) and manifest.csv, the same listing for a spreadsheet.

    Need-to-know: the files are the snapshot's, so the rights that count are those of the person who queued
    the dossier (what he could not read was withheld then, and the dossier names it); whoever exports the
    bundle later gets exactly what the manifest recorded in the PDF lists, so that `verify-bundle` holds."""
    pinned = {_bundle_name(e): e for e in snapshot["evidence"] if e.get("storage_key") and bundled(e)}
    manifest = _manifest(snapshot)
    data = _serialise(manifest)
    stamp = tuple(int(x) for x in snapshot["today"].split("-")) + (0, 0, 0)  # stable zip entries

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


# The most a manifest.json may take before it is even read: a dossier pins at most a few thousand evidence
# entries of a few hundred bytes (manifest_bound then bounds it by its entries). A bigger one is refused from the
# zip's header, and at most this much (plus one byte) is ever read, whatever the header says.
BUNDLE_MANIFEST_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Vouched:
    """What something outside the bundle vouches for (the instance's dossier record, a hash given by whoever
    handed the bundle over): the manifest's SHA-256, the dossier PDFs it knows for that version (empty: not
    checked), and what it is, in words for the report."""

    source: Message
    manifest_sha256: Optional[str]
    pdf_sha256s: frozenset = frozenset()


@dataclass
class BundleCheck:
    """What verify_bundle found: the files checked, the problems, `basis`, what the manifest was checked
    against, in words, and whether the bundled dossier PDF is signed (its signature then vouches)."""

    checked: int
    problems: list
    basis: list = field(default_factory=list)
    signed: bool = False


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> bytes:
    try:
        info = archive.getinfo(BUNDLE_MANIFEST)
    except KeyError:
        raise EvidenceError(N_("%(path)s : pas de %(manifest)s dans le lot"), path=path,
                            manifest=BUNDLE_MANIFEST) from None
    cap = BUNDLE_MANIFEST_MAX_BYTES
    if info.file_size > cap:
        raise EvidenceError(N_("%(path)s : %(manifest)s fait %(size)s octets, plus que la limite de %(limit)s "
                               "octets de tout manifeste : refusé sans être lu"), path=path,
                            manifest=BUNDLE_MANIFEST, size=info.file_size, limit=cap)
    with archive.open(info) as f:
        data = f.read(cap + 1)  # never more, whatever the header claims
    if len(data) > cap:
        raise EvidenceError(N_("%(path)s : %(manifest)s dépasse la limite de %(limit)s octets de tout manifeste "
                               "(son en-tête annonçait %(size)s octets) : refusé"), path=path,
                            manifest=BUNDLE_MANIFEST, size=info.file_size, limit=cap)
    return data


def verify_bundle(path: Path, vouched: Optional[Callable[[object, object], Optional[Vouched]]] = None) -> BundleCheck:
    """Re-check a bundle offline: files checked, problems naming each file that differs, is missing or extra,
    and what the manifest was checked against.

    Files are checked against the manifest, which is in the bundle and so proves nothing alone: its SHA-256 must
    be the one written in the bundled dossier PDF's metadata (inside what the signature covers, when the PDF is
    signed: the signer is named, for the reader to recognise), and, when `vouched(perimeter, dossier_version)`
    gives something outside the bundle (the instance's record of that version, a hash given on the command
    line), the one it vouches for, as the PDF must be one it knows. Its size must be within what its entries
    justify (manifest_bound), and it is read with a cap (BUNDLE_MANIFEST_MAX_BYTES) before it is parsed."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise EvidenceError(N_("%(path)s : pas un fichier zip lisible (%(reason)s)"), path=path, reason=error) from None
    with archive:
        data = _read_manifest(archive, path)
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
        actual = hashlib.sha256(data).hexdigest()
        found, basis, signed = _check_manifest_hash(archive, manifest, actual)
        problems += found
        outside = vouched(manifest.get("perimeter"), manifest.get("dossier_version")) if vouched else None
        if outside is not None:
            problems += _check_vouched(archive, manifest, actual, outside)
            basis.insert(0, Message(N_("manifeste vérifié contre %(source)s"), source=outside.source))
        listed = {entry["path"]: entry for entry in manifest.get("files", []) if isinstance(entry, dict)}
        dossier = manifest.get("dossier")
        present = set(archive.namelist()) - {BUNDLE_MANIFEST, "manifest.csv", dossier}
        problems += [Message(N_("%(name)s : dans le manifeste mais absent du lot"), name=name)
                     for name in sorted(set(listed) - present)]
        problems += [Message(N_("%(name)s : dans le lot mais pas dans le manifeste"), name=name)
                     for name in sorted(present - set(listed))]
        for name in sorted(set(listed) & present):  # streamed: a file's size never becomes memory
            if _sha256_entry(archive, name) != listed[name].get("sha256"):
                problems.append(Message(N_("%(name)s : le SHA-256 diffère de celui du manifeste (altéré)"), name=name))
        return BundleCheck(len(listed) + (1 if dossier else 0), problems, basis, signed)


def _sha256_entry(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _check_vouched(archive: zipfile.ZipFile, manifest: dict, actual: str, outside: Vouched) -> list[Message]:
    problems = []
    if outside.manifest_sha256 and outside.manifest_sha256 != actual:
        problems.append(Message(N_("%(manifest)s : le SHA-256 %(actual)s diffère de celui que garantit %(source)s "
                                   "(%(expected)s) : refusé"), manifest=BUNDLE_MANIFEST, actual=actual,
                                source=outside.source, expected=outside.manifest_sha256))
    dossier = manifest.get("dossier")
    if outside.pdf_sha256s and isinstance(dossier, str) and dossier in archive.namelist() \
            and _sha256_entry(archive, dossier) not in outside.pdf_sha256s:
        problems.append(Message(N_("%(dossier)s : ce PDF n’est aucun de ceux qu’a enregistrés %(source)s pour cette "
                                   "version : refusé"), dossier=dossier, source=outside.source))
    return problems


def _check_manifest_hash(archive: zipfile.ZipFile, manifest: dict,
                         actual: str) -> tuple[list[Message], list[Message], bool]:
    """The manifest's SHA-256 against the one the bundled dossier PDF records (see pdf.MANIFEST_INFO_KEY):
    (problems, what it was checked against, whether that PDF is signed)."""
    from evidence.dossier.pdf import recorded_manifest_sha256

    dossier = manifest.get("dossier")
    if not isinstance(dossier, str) or dossier not in archive.namelist():
        return [Message(N_("%(manifest)s : ne nomme aucun PDF de dossier présent dans le lot (%(dossier)s) : refusé"),
                        manifest=BUNDLE_MANIFEST, dossier=repr(dossier))], [], False
    pdf = archive.read(dossier)
    expected: Optional[str] = recorded_manifest_sha256(pdf)
    problems = []
    if expected is None:
        return [Message(N_("%(dossier)s : n’enregistre aucun SHA-256 de manifeste : le manifeste ne peut pas être "
                           "vérifié : refusé"), dossier=dossier)], [], False
    if expected != actual:
        problems.append(Message(N_("%(manifest)s : le SHA-256 %(actual)s diffère de celui qu’enregistre %(dossier)s "
                                   "(%(expected)s) : le manifeste a été altéré : refusé"), manifest=BUNDLE_MANIFEST,
                                actual=actual, dossier=dossier, expected=expected))
    from evidence.dossier import signing

    if not signing.is_signed(pdf):
        return problems, [Message(N_("manifeste vérifié contre le SHA-256 qu’enregistre %(dossier)s, qui n’est pas "
                                     "signé : ce PDF est dans le lot et peut être modifié avec lui ; pour une preuve, "
                                     "vérifiez le lot sur l’instance ou donnez --manifest-sha256 (le SHA-256 "
                                     "qu’affichent l’instance et `evidence export bundle`)"), dossier=dossier)], False
    report = signing.check_signature(pdf)
    if not report.intact:
        problems.append(Message(N_("%(dossier)s : sa signature ne correspond pas à son contenu (altéré après la "
                                   "signature)"), dossier=dossier))
    elif not report.covers_whole_file:
        problems.append(Message(N_("%(dossier)s : du contenu a été ajouté après la signature : son SHA-256 de "
                                   "manifeste n’est pas celui qui a été signé"), dossier=dossier))
    return problems, [Message(N_("manifeste vérifié contre le SHA-256 qu’enregistre %(dossier)s, signé par "
                                 "%(signer)s : vérifiez que c’est bien le signataire attendu"), dossier=dossier,
                              signer=report.signer or "?")], True
