"""Signing the approved dossier (PAdES with pyHanko) and checking it: a certificate made on the fly, a local
RFC 3161 time-stamping authority on 127.0.0.1, never the network; `evidence verify` and `verify-bundle`."""
import hashlib
import http.server
import io
import json
import shutil
import subprocess
import threading
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from pypdf import PdfReader

from evidence.core.errors import EvidenceError
from evidence.data import audit, storage
from evidence.data import database as db
from evidence.data.models import Dossier
from evidence.dossier.bundle import manifest_bytes, manifest_sha256, verify_bundle, write_bundle
from evidence.dossier.pdf import DossierSettings, recorded_manifest_sha256
from evidence.dossier.signing import SigningSettings, check_signature, sign_pdf
from evidence.services import perimeters
from tests.english import english

from .test_dossier_pdf import q, render, snapshot_of, tiny_files, xmp_fields  # noqa: F401  (fixture)

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only

# --- A certificate authority, a signer and a time-stamping authority, made on the fly ----------------------


def _certificates(folder):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(timezone.utc) - timedelta(minutes=5)

    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nuage Test"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def issue(subject, key, issuer, issuer_key, ca=False, usage=None):
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=not ca,
                                                key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                                                decipher_only=False), critical=True))
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=True)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, signer_key, tsa_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3))
    ca = issue("CA de test", ca_key, "CA de test", ca_key, ca=True)
    signer = issue("Nuage Test — dossiers", signer_key, "CA de test", ca_key)
    tsa = issue("Horodatage de test", tsa_key, "CA de test", ca_key, usage=[ExtendedKeyUsageOID.TIME_STAMPING])
    p12 = folder / "signer.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", signer_key, signer, [ca], serialization.BestAvailableEncryption(b"s3cret passphrase")))
    passphrase = folder / "passphrase"
    passphrase.write_text("s3cret passphrase\n")
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return {"ca": ca, "p12": p12, "passphrase": passphrase, "tsa": tsa, "tsa_key": tsa_key}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return _certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tsa(pki):
    """A local RFC 3161 authority (pyHanko's DummyTimeStamper behind http.server on 127.0.0.1)."""
    from asn1crypto import keys, tsp
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    def der(cert):
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    stamper = DummyTimeStamper(
        tsa_cert=der(pki["tsa"]), certs_to_embed=[der(pki["ca"])],
        tsa_key=keys.PrivateKeyInfo.load(pki["tsa_key"].private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))
    calls = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            calls.append(len(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/tsa", "calls": calls}
    server.shutdown()


@pytest.fixture
def dossier_pdf(tiny_files):
    snapshot = snapshot_of(tiny_files)
    return tiny_files, snapshot, render(tiny_files, snapshot, False)


def settings_for(pki, tsa=None):
    return SigningSettings(pki["p12"], pki["passphrase"], tsa["url"] if tsa else None)


# --- Signing --------------------------------------------------------------------------------------------------


def test_signing_settings_from_config(tmp_path):
    assert SigningSettings.from_config({"DOSSIER_SIGNING_PKCS12": None}) is None
    signing = SigningSettings.from_config({"DOSSIER_SIGNING_PKCS12": tmp_path / "a.p12",
                                           "DOSSIER_SIGNING_PASSPHRASE_FILE": str(tmp_path / "p"),
                                           "DOSSIER_TSA_URL": "https://tsa.example/"})
    assert signing.pkcs12 == tmp_path / "a.p12" and signing.passphrase_file == tmp_path / "p"
    assert signing.level == "PAdES-B-T"
    assert SigningSettings(tmp_path / "a.p12").level == "PAdES-B-B"


def test_dossier_settings_carry_the_signing_settings(app, pki):
    app.config["DOSSIER_SIGNING_PKCS12"] = pki["p12"]
    app.config["DOSSIER_SIGNING_PASSPHRASE_FILE"] = pki["passphrase"]
    with app.app_context():
        from evidence import context

        settings = context.dossier_settings()
    assert isinstance(settings, DossierSettings) and settings.signing.pkcs12 == pki["p12"]


def test_signed_with_a_timestamp_validates_and_keeps_pdf_a_metadata(dossier_pdf, pki, tsa):
    _app, snapshot, pdf = dossier_pdf
    signed, signer = sign_pdf(pdf, settings_for(pki, tsa))
    assert "Nuage Test — dossiers" in signer and tsa["calls"]
    assert signed.startswith(pdf)  # an incremental update: the approved bytes stay as they were
    report = check_signature(signed, trust_roots=[pki["ca"]])
    assert report.ok and report.intact and report.valid and report.trusted and report.timestamped, report.problems
    assert report.covers_whole_file and "Nuage Test" in report.signer
    # The signed revision still is PDF/A-3U, its XMP agreeing with its Info dictionary, the manifest inside.
    reader = PdfReader(io.BytesIO(signed))
    info, fields = reader.metadata, xmp_fields(reader)
    assert fields[q("pdfaid", "part")] == "3" and fields[q("pdfaid", "conformance")] == "U"
    assert fields[q("pdf", "Producer")] == info["/Producer"]
    assert fields[q("pdf", "Keywords")] == info["/Keywords"]
    assert fields[q("dc", "title")] == info["/Title"]
    modified = datetime.fromisoformat(fields[q("xmp", "ModifyDate")].replace("Z", "+00:00"))
    assert modified == reader.metadata.modification_date.astimezone(timezone.utc)
    assert recorded_manifest_sha256(signed) == manifest_sha256(snapshot)
    assert f"EvidenceManifestSHA256={manifest_sha256(snapshot)}" in info["/Keywords"]


def test_signed_without_a_timestamp_authority_is_b_b(dossier_pdf, pki):
    _app, _snapshot, pdf = dossier_pdf
    signed, _signer = sign_pdf(pdf, settings_for(pki))
    report = check_signature(signed, trust_roots=[pki["ca"]])
    assert report.ok and not report.timestamped


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler's pdfsig is not installed (.ci/run installs "
                    "poppler-utils)")
def test_pdfsig_reports_the_signature_valid(dossier_pdf, pki, tsa, tmp_path):
    _app, _snapshot, pdf = dossier_pdf
    signed, _signer = sign_pdf(pdf, settings_for(pki, tsa))
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    command = ["pdfsig"]
    if shutil.which("certutil"):  # trust the test CA in a throw-away NSS database
        nss = tmp_path / "nss"
        nss.mkdir()
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
        subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "ca", "-t", "C,C,C", "-i",
                        str(pki["p12"].with_name("ca.pem"))], check=True, capture_output=True)
        command += ["-nssdir", f"sql:{nss}"]
    output = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60).stdout
    assert "Signature is Valid." in output, output  # pdfsig exits 0 whatever it finds: read what it says
    if shutil.which("certutil"):
        assert "Certificate is Trusted." in output, output
    altered = bytearray(signed)
    middle = len(pdf) // 2
    altered[middle] = (altered[middle] + 1) % 256
    path.write_bytes(bytes(altered))
    output = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60).stdout
    assert "Signature is Valid." not in output, output


def test_one_changed_byte_breaks_the_signature(dossier_pdf, pki):
    _app, _snapshot, pdf = dossier_pdf
    signed, _signer = sign_pdf(pdf, settings_for(pki))
    altered = bytearray(signed)
    altered[len(pdf) // 3] ^= 0x01
    report = check_signature(bytes(altered), trust_roots=[pki["ca"]])
    assert not report.ok and not report.intact and "altered" in " ".join(map(english, report.problems))
    assert not check_signature(pdf).signed  # an unsigned PDF says so


def test_a_missing_or_wrong_certificate_is_a_clear_error(dossier_pdf, pki, tmp_path):
    _app, _snapshot, pdf = dossier_pdf
    missing = tmp_path / "nope.p12"
    with pytest.raises(EvidenceError, match=str(missing)):
        sign_pdf(pdf, SigningSettings(missing, pki["passphrase"]))
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase")
    with pytest.raises(EvidenceError, match="signer.p12"):
        sign_pdf(pdf, SigningSettings(pki["p12"], wrong))
    with pytest.raises(EvidenceError, match="nope-passphrase"):
        sign_pdf(pdf, SigningSettings(pki["p12"], tmp_path / "nope-passphrase"))


# --- Stored signatures: `evidence verify` -----------------------------------------------------------------


def store_version(app, snapshot, pdf, signed=None, status="approved"):
    """A rendered version as the life cycle leaves it (draft and approved PDFs, the signed copy)."""
    store = storage.get_store(app)
    with app.app_context(), db.session_scope(app) as session:
        perimeter = perimeters.get_perimeter(session, "iaas-t")
        blob = store.put(io.BytesIO(pdf))
        dossier = Dossier(perimeter_id=perimeter.id, number=snapshot["number"], status=status, snapshot=snapshot,
                          sha256=blob.sha256, size=blob.size, storage_key=blob.key, draft_sha256=blob.sha256,
                          draft_storage_key=blob.key, manifest_sha256=manifest_sha256(snapshot))
        if signed is not None:
            signed_blob = store.put(io.BytesIO(signed))
            dossier.signed_sha256, dossier.signed_size = signed_blob.sha256, signed_blob.size
            dossier.signed_storage_key, dossier.signer = signed_blob.key, "CN=test"
        session.add(dossier)
        # The events that record each PDF, as render_stored and sign_stored write them: verify compares the rows.
        name = f"iaas-t-v{snapshot['number']}"
        for action, recorded, final in (("dossier.render", blob, False), ("dossier.render", blob, True),
                                        ("dossier.sign", signed_blob if signed is not None else None, True)):
            if recorded is not None:
                audit.record(session, None, action, object_type="dossier", object_id=name,
                             details={"sha256": recorded.sha256, "size": recorded.size, "final": final})
        session.commit()
        return dossier.signed_storage_key


def test_verify_checks_stored_signatures_and_names_the_altered_one(dossier_pdf, pki):
    app, snapshot, pdf = dossier_pdf
    signed, _signer = sign_pdf(pdf, settings_for(pki))
    key = store_version(app, snapshot, pdf, signed)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0 and "0 problem(s)" in result.output, result.output
    path = storage.get_store(app).root / key
    altered = bytearray(path.read_bytes())
    altered[len(pdf) // 2] ^= 0x01
    path.chmod(0o640)
    path.write_bytes(bytes(altered))
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 1, result.output
    assert f"iaas-t v1: corrupt signed PDF {key}" in result.output
    assert "altered (digest mismatch)" in result.output


# --- Bundles: the manifest against the dossier's record ------------------------------------------------------


def bundle_of(app, snapshot, pdf, path):
    write_bundle(snapshot, pdf, storage.get_store(app), path)
    return path


def rewrite(source, target, name, change):
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info.filename)
            new.writestr(info, change(data) if info.filename == name else data)
    return target


def test_manifest_bytes_are_the_bundles_manifest(dossier_pdf, tmp_path):
    app, snapshot, pdf = dossier_pdf
    bundle = bundle_of(app, snapshot, pdf, tmp_path / "b.zip")
    with zipfile.ZipFile(bundle) as archive:
        assert archive.read("manifest.json") == manifest_bytes(snapshot)
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["dossier"] in archive.namelist() and "sha256" not in json.dumps(manifest["dossier"])
    assert manifest_bytes(json.loads(json.dumps(snapshot))) == manifest_bytes(snapshot)  # the snapshot alone
    assert hashlib.sha256(manifest_bytes(snapshot)).hexdigest() == manifest_sha256(snapshot)


def test_verify_bundle_refuses_an_altered_or_padded_manifest(dossier_pdf, pki, tmp_path):
    app, snapshot, pdf = dossier_pdf
    signed, _signer = sign_pdf(pdf, settings_for(pki))
    bundle = bundle_of(app, snapshot, signed, tmp_path / "b.zip")
    found = verify_bundle(bundle)
    checked, problems = found.checked, found.problems
    assert problems == [] and checked == 3  # the PDF and the two files
    runner = app.test_cli_runner()
    result = runner.invoke(args=["verify-bundle", str(bundle)])
    assert result.exit_code == 0 and "match the manifest" in result.output, result.output

    # A manifest whose listing was changed (with a file changed to match it): its hash is not the recorded one.
    def forge(data):
        manifest = json.loads(data)
        manifest["files"][0]["sha256"] = hashlib.sha256(b"forged").hexdigest()
        return json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"

    name = json.loads(zipfile.ZipFile(bundle).read("manifest.json"))["files"][0]["path"]
    forged = rewrite(bundle, tmp_path / "forged-step.zip", "manifest.json", forge)
    forged = rewrite(forged, tmp_path / "forged.zip", name, lambda data: b"forged")
    problems = verify_bundle(forged).problems
    assert any("manifest.json: SHA-256" in english(p) and "was altered" in english(p) for p in problems), problems
    result = runner.invoke(args=["verify-bundle", str(forged)])
    assert result.exit_code == 1 and "the manifest was altered" in result.output

    # Padding (room to hide something): refused by its size, whatever else.
    padded = rewrite(bundle, tmp_path / "padded.zip", "manifest.json",
                     lambda data: data.rstrip(b"\n}") + b', "z": "' + b" " * 200_000 + b'"}\n')
    problems = verify_bundle(padded).problems
    assert any("more than its entries justify" in english(p) for p in problems), problems

    # The dossier PDF swapped for one recording another manifest: refused too.
    other = dict(snapshot, number=2)
    swapped = rewrite(bundle, tmp_path / "swapped.zip", json.loads(manifest_bytes(snapshot))["dossier"],
                      lambda data: render(app, other, False))
    problems = verify_bundle(swapped).problems
    assert any("was altered" in english(p) for p in problems), problems


def test_export_bundle_takes_the_approved_version_and_needs_draft_for_a_draft(dossier_pdf, tmp_path):
    app, snapshot, pdf = dossier_pdf
    store_version(app, snapshot, pdf, status="draft")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["export", "bundle", "iaas-t", "-o", str(tmp_path / "b.zip")])
    assert result.exit_code == 1 and "draft" in result.output, result.output
    result = runner.invoke(args=["export", "bundle", "iaas-t", "--draft", "-o", str(tmp_path / "b.zip")])
    assert result.exit_code == 0 and "DRAFT dossier iaas-t v1" in result.output, result.output
    assert verify_bundle(tmp_path / "b.zip").problems == []
