"""A local OpenID provider for the single sign-on tests: oidc-provider-mock served on 127.0.0.1 from a thread, behind
a small WSGI layer that records every request (the mock does not check PKCE: the tests check what was sent) and can
rewrite the discovery document or the ID token the token endpoint answers with (tampering cases).

Only 127.0.0.1 is ever contacted; the issuer is http://127.0.0.1:<port> throughout (the mock's `iss` follows the
Host header, so one host name is used for every request, the browser's and the application's).
"""
from __future__ import annotations

import base64
import io
import json
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import parse_qs, urlsplit

import flask
import oidc_provider_mock
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    form: dict
    headers: dict


@dataclass
class Tampering:
    """What the layer in front of the mock changes; reset between tests."""

    id_token: Optional[Callable[[str], str]] = None  # the token endpoint's id_token, rewritten
    discovery: Optional[Callable[[dict], dict]] = None  # the discovery document, rewritten


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def token_parts(token: str) -> tuple[dict, dict, str]:
    """(header, claims, signature) of a compact JWS, unverified."""
    header, payload, signature = token.split(".")
    return json.loads(_b64decode(header)), json.loads(_b64decode(payload)), signature


class Recorder:
    """WSGI middleware in front of the mock."""

    def __init__(self, app):
        self.app = app
        self.requests: list[Recorded] = []
        self.tampering = Tampering()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        path = environ.get("PATH_INFO", "")
        form = parse_qs(body.decode("latin-1")) if environ.get("CONTENT_TYPE", "").startswith(
            "application/x-www-form-urlencoded") else {}
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")}
        with self.lock:
            self.requests.append(Recorded(environ["REQUEST_METHOD"], path, parse_qs(environ.get("QUERY_STRING", "")),
                                          form, headers))
        rewrite = None
        if path == "/oauth2/token" and self.tampering.id_token:
            rewrite = self._rewrite_token
        elif path == "/.well-known/openid-configuration" and self.tampering.discovery:
            rewrite = self.tampering.discovery
        if rewrite is None:
            return self.app(environ, start_response)
        captured = {}

        def capture(status, response_headers, exc_info=None):
            captured.update(status=status, headers=response_headers)
            return lambda data: None

        result = self.app(environ, capture)
        try:
            document = json.loads(b"".join(result))
        finally:
            getattr(result, "close", lambda: None)()
        out = json.dumps(rewrite(document)).encode()
        response_headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*response_headers, ("Content-Length", str(len(out)))])
        return [out]

    def _rewrite_token(self, document: dict) -> dict:
        if "id_token" in document:
            document["id_token"] = self.tampering.id_token(document["id_token"])
        return document

    def find(self, path: str, method: Optional[str] = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method)]


@dataclass
class Provider:
    issuer: str
    recorder: Recorder
    key: RSAKey  # the mock's signing key: a test re-signs claims with it (a valid signature on wrong claims)
    http: requests.Session = field(default_factory=requests.Session)

    def set_user(self, sub: str, **claims) -> None:
        """The mock's account `sub` with these claims (they go into its ID tokens)."""
        response = self.http.put(f"{self.issuer}/users/{sub}", json=claims, timeout=10)
        assert response.status_code == 204, response.text

    def authorize(self, authorization_url: str, sub: str, *, deny: bool = False) -> str:
        """The browser at the provider: the user `sub` logs in (the mock's one click); the address the provider
        sends the browser back to."""
        assert authorization_url.startswith(self.issuer + "/"), authorization_url  # the configured provider only
        data = {"action": "deny"} if deny else {"sub": sub}
        response = self.http.post(authorization_url, data=data, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def resign(self, token: str, **changes) -> str:
        """The ID token's claims with `changes` (None removes a claim), signed again with the provider's key."""
        header, claims, _ = token_parts(token)
        claims.update(changes)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode({"alg": header["alg"], **({"kid": header["kid"]} if "kid" in header else {})}, claims,
                          self.key)

    def reset(self) -> None:
        self.recorder.tampering = Tampering()
        with self.recorder.lock:
            self.recorder.requests.clear()


def signing_key(mock: flask.Flask) -> RSAKey:
    with mock.test_request_context():
        mock.preprocess_request()  # the mock's storage is put in `g` before each request
        jwk = flask.g.oidc_provider_mock_storage.jwk
    return RSAKey.import_key(jwk.as_dict(is_private=True))


def serve():
    """Start the provider; returns (Provider, stop)."""
    mock = oidc_provider_mock.app()
    recorder = Recorder(mock)
    server = make_server("127.0.0.1", 0, recorder, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    provider = Provider(f"http://127.0.0.1:{server.server_port}", recorder, signing_key(mock))
    provider.http.trust_env = False  # no proxy between the test and 127.0.0.1

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(5)

    return provider, stop


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
