"""A software WebAuthn authenticator for the service tests: an ES256 key made with `cryptography`, "none"
attestation, a signature counter, and the browser's part (clientDataJSON with the origin the test says).

It builds the same JSON a browser's PublicKeyCredential.toJSON() gives, from the options the server sent, so
that a test can make every answer a real key would, and the wrong ones: another origin, another challenge, a
counter that went back.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40
AAGUID = bytes.fromhex("00112233445566778899aabbccddeeff")


class SoftAuthenticator:
    def __init__(self, origin: str = "http://localhost", rp_id: str = "localhost", counter: int = 0):
        self.origin, self.rp_id, self.counter = origin, rp_id, counter
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)

    @property
    def id(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def client_data(self, kind: str, challenge: bytes, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": bytes_to_base64url(challenge),
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def auth_data(self, rp_id: str | None, flags: int, extra: bytes = b"") -> bytes:
        return (hashlib.sha256((rp_id or self.rp_id).encode()).digest() + bytes([flags])
                + struct.pack(">I", self.counter) + extra)

    def register(self, options_json: str, *, origin: str | None = None, rp_id: str | None = None,
                 challenge: bytes | None = None) -> dict:
        """The answer to navigator.credentials.create() with these options."""
        options = json.loads(options_json)
        challenge = challenge if challenge is not None else base64url_to_bytes(options["challenge"])
        attested = AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id + self.cose_public_key()
        auth_data = self.auth_data(rp_id, FLAG_UP | FLAG_UV | FLAG_AT, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.id, "rawId": self.id, "type": "public-key", "authenticatorAttachment": "cross-platform",
            "response": {"clientDataJSON": bytes_to_base64url(self.client_data("webauthn.create", challenge, origin)),
                         "attestationObject": bytes_to_base64url(attestation), "transports": ["usb", "nfc"]},
            "clientExtensionResults": {},
        }

    def sign(self, options_json: str, *, origin: str | None = None, rp_id: str | None = None,
             challenge: bytes | None = None, counter: int | None = None) -> dict:
        """The answer to navigator.credentials.get(): the counter goes up by one unless `counter` says otherwise
        (a copy of the key, which counts on its own)."""
        options = json.loads(options_json)
        challenge = challenge if challenge is not None else base64url_to_bytes(options["challenge"])
        self.counter = counter if counter is not None else self.counter + 1
        client_data = self.client_data("webauthn.get", challenge, origin)
        auth_data = self.auth_data(rp_id, FLAG_UP | FLAG_UV)
        signature = self.private_key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": self.id, "rawId": self.id, "type": "public-key", "authenticatorAttachment": "cross-platform",
            "response": {"clientDataJSON": bytes_to_base64url(client_data),
                         "authenticatorData": bytes_to_base64url(auth_data),
                         "signature": bytes_to_base64url(signature), "userHandle": None},
            "clientExtensionResults": {},
        }
