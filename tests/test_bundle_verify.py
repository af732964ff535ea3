"""`verify-bundle` checks the bundle against something outside it (issue 16, finding 7): the manifest and an
unsigned dossier PDF are both in the zip and can be edited together, so the instance's record of the version (or
a hash handed over apart) must vouch for them; and a huge manifest is refused without being read."""
from __future__ import annotations

import hashlib
import io
import json
import time
import tracemalloc
import zipfile

import pytest
from pypdf import PdfReader, PdfWriter

from evidence.core.errors import EvidenceError
from evidence.dossier.bundle import BUNDLE_MANIFEST_MAX_BYTES, verify_bundle
from evidence.dossier.render.archive import MANIFEST_INFO_KEY
from tests.english import english, refused

from .test_dossier_pdf import render, snapshot_of, tiny_files  # noqa: F401  (fixture)
from .test_dossier_signing import bundle_of, rewrite, store_version

pytestmark = pytest.mark.sqlite_only  # a zip and a PDF, no SQL that differs between backends


@pytest.fixture
def dossier_pdf(tiny_files):  # noqa: F811
    snapshot = snapshot_of(tiny_files)
    return tiny_files, snapshot, render(tiny_files, snapshot, False)


def forged_bundle(bundle, tmp_path, **changes):
    """What someone editing a bundle does: one evidence file swapped, the manifest updated to match (and given
    `changes`), and the unsigned PDF's recorded manifest hash updated too. Everything inside the zip agrees."""
    with zipfile.ZipFile(bundle) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    name = manifest["files"][0]["path"]
    manifest["files"][0]["sha256"] = hashlib.sha256(b"forged").hexdigest()
    manifest.update(changes)
    data = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"

    def repoint(pdf):
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
        writer.add_metadata({MANIFEST_INFO_KEY: hashlib.sha256(data).hexdigest()})
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    step = rewrite(bundle, tmp_path / "f1.zip", "manifest.json", lambda _old: data)
    step = rewrite(step, tmp_path / "f2.zip", name, lambda _old: b"forged")
    return rewrite(step, tmp_path / "forged.zip", manifest["dossier"], repoint)


def test_a_bundle_edited_throughout_is_refused_by_the_instance_record(dossier_pdf, tmp_path):
    app, snapshot, pdf = dossier_pdf
    store_version(app, snapshot, pdf)  # the instance's record of iaas-t v1: its manifest hash and its PDF
    bundle = bundle_of(app, snapshot, pdf, tmp_path / "b.zip")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["verify-bundle", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "manifest checked against the record of the dossier iaas-t v1 in this instance" in result.output

    forged = forged_bundle(bundle, tmp_path)
    # The bundle alone agrees with itself: offline, only the warning says that this proves nothing.
    problems = verify_bundle(forged).problems
    assert problems == [], [english(p) for p in problems]
    result = runner.invoke(args=["verify-bundle", "--offline", str(forged)])
    assert result.exit_code == 0 and "which is not signed: this PDF is in the bundle" in result.output, result.output
    # Against the instance's record, or the hash handed over apart: refused, naming what vouches.
    result = runner.invoke(args=["verify-bundle", str(forged)])
    assert result.exit_code == 1, result.output
    assert "differs from the one the record of the dossier iaas-t v1 in this instance vouches for" in result.output
    assert "is none of those the record of the dossier iaas-t v1 in this instance holds" in result.output
    good = hashlib.sha256(zipfile.ZipFile(bundle).read("manifest.json")).hexdigest()
    result = runner.invoke(args=["verify-bundle", "--manifest-sha256", good, str(forged)])
    assert result.exit_code == 1 and "the SHA-256 given with --manifest-sha256" in result.output, result.output
    result = runner.invoke(args=["verify-bundle", "--manifest-sha256", good, str(bundle)])
    assert result.exit_code == 0, result.output
    # Renumbered to a version the instance does not have: not "checked against itself", refused.
    (tmp_path / "r").mkdir()
    renumbered = forged_bundle(bundle, tmp_path / "r", dossier_version=99)
    result = runner.invoke(args=["verify-bundle", str(renumbered)])
    assert result.exit_code == 1 and "has no record of the dossier iaas-t v99" in result.output, result.output


def test_a_huge_manifest_is_refused_without_being_read(tmp_path):
    size = 50 * 1024 * 1024
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("manifest.json", "w") as f:  # 50 MB of spaces: about 50 KB compressed
            for _ in range(size // (1024 * 1024)):
                f.write(b" " * (1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    tracemalloc.start()
    started = time.monotonic()
    try:
        with refused(EvidenceError, r"manifest\.json is 52428800 bytes, more than the .* limit"):
            verify_bundle(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024 and time.monotonic() - started < 2, peak
    assert BUNDLE_MANIFEST_MAX_BYTES < size


def test_the_manifest_is_read_with_a_cap_whatever_its_header_says(tmp_path, monkeypatch):
    """At most the cap plus one byte is read: a header that understates the size does not help."""
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", b" " * 5000)
    monkeypatch.setattr("evidence.dossier.bundle.BUNDLE_MANIFEST_MAX_BYTES", 10_000)
    reads = []
    real_open = zipfile.ZipFile.open

    def spying_open(self, name, *args, **kwargs):
        handle = real_open(self, name, *args, **kwargs)
        real_read = handle.read
        handle.read = lambda n=-1: reads.append(n) or real_read(n)
        return handle

    monkeypatch.setattr(zipfile.ZipFile, "open", spying_open)
    with refused(EvidenceError, "not valid JSON"):
        verify_bundle(path)
    assert reads[0] == 10_001
