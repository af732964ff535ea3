"""Signing an approved dossier (PAdES, pyHanko) and checking stored signatures, offline.

PAdES B-T (the signature with an RFC 3161 timestamp) when a time-stamping authority is configured
(DOSSIER_TSA_URL: the one address this module may call), B-B otherwise. The signature is an incremental
update of the PDF/A-3U dossier: the signed revision holds the bundle manifest's SHA-256 (Info dictionary and
XMP pdf:Keywords, see render/merge.py), so that a signed dossier vouches for its bundle's manifest.

pyHanko updates the XMP packet and the Info dictionary when it signs: it sets both modification dates and
writes its own name as the XMP producer while appending it to the Info one. The Info /Producer is set to
pyHanko's name before signing and the modification time is fixed once for both, so that the two keep agreeing
(PDF/A asks for it); everything else (pdfaid, title, keywords) is kept as it was.
"""
from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Optional

from evidence.core.errors import N_, EvidenceError, Message

SIGNATURE_FIELD = "DossierSignature"


@dataclass(frozen=True)
class SigningSettings:
    """The organisation's certificate and key (PKCS#12), its passphrase file, and the TSA's URL (or None)."""

    pkcs12: Path
    passphrase_file: Optional[Path] = None
    tsa_url: Optional[str] = None

    @classmethod
    def from_config(cls, config: Mapping) -> Optional[SigningSettings]:
        """From DOSSIER_SIGNING_PKCS12, DOSSIER_SIGNING_PASSPHRASE_FILE and DOSSIER_TSA_URL; None when no PKCS#12
        is configured (dossiers are then not signed)."""
        pkcs12 = config.get("DOSSIER_SIGNING_PKCS12")
        if not pkcs12:
            return None
        passphrase = config.get("DOSSIER_SIGNING_PASSPHRASE_FILE")
        return cls(pkcs12=Path(pkcs12), passphrase_file=Path(passphrase) if passphrase else None,
                   tsa_url=config.get("DOSSIER_TSA_URL") or None)

    @property
    def level(self) -> str:
        return "PAdES-B-T" if self.tsa_url else "PAdES-B-B"


@dataclass
class SignatureReport:
    """What check_signature found in a PDF's (last) signature."""

    signed: bool = False
    intact: bool = False  # the signed bytes hash to the digest the signature holds
    valid: bool = False  # and the signature over that digest verifies with the certificate it carries
    trusted: Optional[bool] = None  # the certificate chains to one of trust_roots (None: no roots given)
    signer: str = ""  # the signer certificate's subject
    timestamped: bool = False
    covers_whole_file: bool = False  # nothing was added after the signature
    problems: list[Message] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.signed and self.intact and self.valid and self.covers_whole_file and self.trusted is not False


def _signer(signing: SigningSettings):
    from pyhanko.sign import signers

    try:
        data = signing.pkcs12.read_bytes()
    except OSError as error:
        raise EvidenceError(N_("le certificat de signature des dossiers %(path)s est illisible (%(reason)s) ; "
                               "vérifiez DOSSIER_SIGNING_PKCS12"), path=signing.pkcs12,
                            reason=error.strerror or error) from None
    passphrase = None
    if signing.passphrase_file is not None:
        try:
            passphrase = signing.passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as error:
            raise EvidenceError(N_("le fichier de phrase secrète de signature %(path)s est illisible (%(reason)s) ; "
                                   "vérifiez DOSSIER_SIGNING_PASSPHRASE_FILE"), path=signing.passphrase_file,
                                reason=error.strerror or error) from None
    try:
        return signers.SimpleSigner.load_pkcs12_data(data, other_certs=[], passphrase=passphrase)
    except Exception as error:  # pyHanko/cryptography raise ValueError, TypeError… for a bad file or passphrase
        raise EvidenceError(N_("le certificat de signature des dossiers %(path)s n’est pas un PKCS#12 que cette "
                               "phrase secrète ouvre (%(reason)s) ; vérifiez DOSSIER_SIGNING_PKCS12 et "
                               "DOSSIER_SIGNING_PASSPHRASE_FILE"), path=signing.pkcs12,
                            reason=f"{type(error).__name__}: {error}") from None


def signer_subject(certificate) -> str:
    return certificate.subject.human_friendly


def sign_pdf(pdf: bytes, signing: SigningSettings) -> tuple[bytes, str]:
    """The dossier signed (PAdES B-T with a TSA, else B-B) and the signer certificate's subject."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.metadata import model
    from pyhanko.sign import fields, signers, timestamps

    signer = _signer(signing)
    timestamper = timestamps.HTTPTimeStamper(signing.tsa_url, timeout=30) if signing.tsa_url else None
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    # Info /Producer and XMP pdf:Producer: pyHanko writes its name in the XMP one and appends it to the Info
    # one unless it is there already; with its name alone in both, both say the same.
    info = writer.trailer["/Info"].get_object()
    info["/Producer"] = generic.TextStringObject(model.VENDOR)
    writer.mark_update(writer.trailer.raw_get("/Info"))
    # One modification time for both (pyHanko would read the clock once for each).
    moment = datetime.now(timezone.utc).replace(microsecond=0)
    writer._meta.__class__ = _at(moment)
    metadata = signers.PdfSignatureMetadata(field_name=SIGNATURE_FIELD, md_algorithm="sha256",
                                            subfilter=fields.SigSeedSubFilter.PADES)
    out = io.BytesIO()
    try:
        signers.PdfSigner(metadata, signer=signer, timestamper=timestamper).sign_pdf(writer, output=out)
    except EvidenceError:
        raise
    except Exception as error:  # the TSA unreachable or refusing, mostly
        reason = f"{type(error).__name__}: {error}"
        if signing.tsa_url:
            raise EvidenceError(N_("la signature du dossier a échoué (autorité d’horodatage %(tsa)s) : %(reason)s"),
                                tsa=signing.tsa_url, reason=reason) from None
        raise EvidenceError(N_("la signature du dossier a échoué : %(reason)s"), reason=reason) from None
    return out.getvalue(), signer_subject(signer.signing_cert)


def _at(moment: datetime):
    """pyHanko's metadata class, with "now" meaning `moment` (see sign_pdf)."""
    from pyhanko.pdf_utils.metadata.model import DocumentMetadata

    class FixedTime(DocumentMetadata):
        def __setattr__(self, name, value):
            if name == "last_modified" and value == "now":
                value = moment
            super().__setattr__(name, value)

    return FixedTime


def is_signed(pdf: bytes) -> bool:
    return b"/ByteRange" in pdf and b"/Sig" in pdf


def check_signature(pdf: bytes, trust_roots=None) -> SignatureReport:
    """Check the PDF's last signature offline: intact, valid against the certificate it carries, covering
    the whole file, timestamped or not; `trust_roots` (asn1crypto or cryptography certificates) also asks that
    the signer chain to one of them. Never fetches anything (no revocation checks)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    report = SignatureReport()
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except Exception as error:  # a damaged file: pyHanko's reader raises its own errors and others
        report.problems.append(Message(N_("pas un PDF lisible (%(reason)s)"), reason=f"{type(error).__name__}: {error}"))
        return report
    if not signatures:
        report.problems.append(Message(N_("aucune signature")))
        return report
    report.signed = True
    signature = signatures[-1]
    roots = [_asn1(root) for root in trust_roots] if trust_roots else []
    # Never the operating system's trust list: the roots given, or none (integrity and validity only).
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    try:
        with _quiet_without_roots(not roots):
            status = validate_pdf_signature(signature, context)
    except Exception as error:
        report.problems.append(Message(N_("la signature ne peut pas être vérifiée (%(reason)s)"),
                                       reason=f"{type(error).__name__}: {error}"))
        return report
    report.intact, report.valid = bool(status.intact), bool(status.valid)
    report.signer = signer_subject(status.signing_cert) if status.signing_cert is not None else ""
    report.timestamped = status.timestamp_validity is not None
    report.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    if trust_roots:
        report.trusted = bool(status.trusted)
    if not report.intact:
        report.problems.append(Message(N_("le contenu signé a été altéré (empreinte différente)")))
    elif not report.valid:
        report.problems.append(Message(N_("la signature ne se vérifie pas avec le certificat qu’elle porte")))
    if not report.covers_whole_file:
        report.problems.append(Message(N_("du contenu a été ajouté après la signature")))
    if report.trusted is False:
        report.problems.append(Message(N_("le certificat du signataire ne remonte pas à une racine de confiance")))
    return report


@contextmanager
def _quiet_without_roots(quiet: bool):
    """Without trust roots, pyHanko logs a warning with a traceback for the path it cannot build: expected
    there (only integrity and validity are asked), and noise in `evidence verify`."""
    logger = logging.getLogger("pyhanko.sign.validation.generic_cms")
    if not quiet:
        yield
        return
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _asn1(certificate):
    from asn1crypto import x509

    if isinstance(certificate, x509.Certificate):
        return certificate
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.Certificate.load(certificate.public_bytes(Encoding.DER))
