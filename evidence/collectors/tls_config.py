"""A TLS server's configuration read and judged against ANSSI's guide [NT_TLS], which SecNumCloud 10.2.c requires
the provider to follow: « Recommandations de sécurité relatives à TLS » (v1.2, 2020): §2.1 (protocol versions: TLS
1.3 preferred, TLS 1.2 accepted, nothing older), §2.2 and appendix A (suites: an ephemeral, authenticated key
exchange for forward secrecy, authenticated encryption (AEAD); the suites with CBC are only "degraded" ones, and RC4,
3DES, NULL, EXPORT and MD5 are out).

Two formats: nginx (`ssl_protocols`, `ssl_ciphers`, `ssl_prefer_server_ciphers`, `ssl_conf_command Ciphersuites`,
per `server` block, inheriting from `http`/`stream`) and OpenSSL's configuration commands (`MinProtocol`,
`Protocol`, `CipherString`, `Ciphersuites`, `Options = ServerPreference`, in a `tls.conf` or `openssl.cnf`).

A cipher string ("HIGH:!aNULL") is expanded by this machine's OpenSSL (Python's ssl module, at security level 0 so
that nothing is hidden by local policy): what the host's own OpenSSL selects may differ a little; families that a
modern OpenSSL no longer knows (RC4, 3DES, EXPORT) are refused from the string's own words. Pure otherwise: text in,
checks out.
"""
from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from typing import Optional

from evidence.collectors.config_checks import ADVICE, FAIL, PASS, Check, shown, split_list, worst

GOOD_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")
TLS13_SUITES = ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
                "TLS_AES_128_CCM_SHA256")
# Words of a cipher string that turn on what the guide excludes (when not after "!" or "-").
WEAK_WORDS = re.compile(r"RC4|3DES|DES-CBC|^DES$|NULL|^EXP|EXPORT|MD5|^ADH|^AECDH", re.IGNORECASE)
NGINX_DEFAULT_CIPHERS = "HIGH:!aNULL:!MD5"
OPENSSL_DEFAULT_CIPHERS = "DEFAULT"


@dataclass(frozen=True)
class Value:
    text: str
    where: str


@dataclass
class Endpoint:
    """One TLS server as its configuration defines it; None: not set there (the software's default applies)."""

    name: str  # "nginx/site.conf:4 server example.org", "tls.conf"
    software: str  # "nginx" | "openssl"
    protocols: Optional[Value] = None  # a list of versions (nginx, OpenSSL's Protocol) ...
    min_protocol: Optional[Value] = None  # ... or a floor (OpenSSL's MinProtocol)
    ciphers: Optional[Value] = None  # TLS 1.2 and below: an OpenSSL cipher string
    suites: Optional[Value] = None  # TLS 1.3
    prefer_server: Optional[Value] = None


# --- nginx -------------------------------------------------------------------------------------------------------


@dataclass
class Block:
    name: str
    args: list[str]
    where: str
    directives: list[tuple[str, list[str], str]] = field(default_factory=list)
    children: list["Block"] = field(default_factory=list)


def nginx_tokens(text: str):
    """(token, line) of an nginx file: words (quotes removed), `;`, `{`, `}`; comments dropped."""
    line, i, n = 1, 0, len(text)
    while i < n:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char.isspace():
            i += 1
        elif char == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif char in ";{}":
            yield char, line
            i += 1
        elif char in "\"'":
            end = text.find(char, i + 1)
            end = n if end < 0 else end
            word = text[i + 1:end]
            yield word, line
            line += word.count("\n")
            i = end + 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in ";{}#\"'":
                i += 1
            yield text[start:i], line


def parse_nginx(name: str, text: str) -> Block:
    """The file as a tree of blocks; unbalanced braces are closed at the end (judged as written, not refused)."""
    root = Block("", [], f"{name}:1")
    stack, words, first_line = [root], [], 1
    for token, line in nginx_tokens(text):
        if token == ";":
            if words:
                stack[-1].directives.append((words[0].lower(), words[1:], f"{name}:{first_line}"))
            words = []
        elif token == "{":
            block = Block(words[0].lower() if words else "", words[1:], f"{name}:{first_line}")
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            if len(stack) > 1:
                stack.pop()
            words = []
        else:
            if not words:
                first_line = line
            words.append(token)
    return root


NGINX_KEYS = ("ssl_protocols", "ssl_ciphers", "ssl_prefer_server_ciphers", "ssl_conf_command")


def _own(block: Block) -> dict[str, Value]:
    values = {}
    for keyword, args, where in block.directives:
        if keyword == "ssl_conf_command" and len(args) >= 2 and args[0].lower() == "ciphersuites":
            values.setdefault("suites", Value(args[1], where))
        elif keyword in NGINX_KEYS[:3]:
            values.setdefault(keyword, Value(" ".join(args), where))
    return values


def _is_tls_server(block: Block) -> bool:
    for keyword, args, _where in block.directives:
        if keyword in ("ssl_certificate", "ssl_protocols", "ssl_ciphers") or \
                (keyword == "listen" and "ssl" in args) or (keyword == "ssl" and args[:1] == ["on"]):
            return True
    return False


def nginx_endpoints(files: list[tuple[str, str]]) -> list[Endpoint]:
    """The TLS servers of an nginx configuration given as files (nginx.conf and the files it includes, which are
    read as if included in its `http` block: a `server` block inherits the `ssl_*` values of `http`)."""
    trees = [(name, parse_nginx(name, text)) for name, text in files]
    base: dict[str, Value] = {}
    for _name, tree in trees:
        contexts = [b for b in tree.children if b.name in ("http", "stream")] or [tree]
        for context in contexts:
            for key, value in _own(context).items():
                base.setdefault(key, value)
    endpoints = []
    for _name, tree in trees:
        for server in _servers(tree):
            if _is_tls_server(server):
                names = next((args for keyword, args, _w in server.directives if keyword == "server_name"), [])
                endpoints.append(_endpoint(f"{server.where} server {' '.join(names)}".strip(), {**base, **_own(server)}))
    if not endpoints and base:
        endpoints.append(_endpoint("http", base))
    return endpoints


def _servers(block: Block):
    for child in block.children:
        if child.name == "server":
            yield child
        else:
            yield from _servers(child)


def _endpoint(name: str, values: dict[str, Value]) -> Endpoint:
    return Endpoint(name, "nginx", protocols=values.get("ssl_protocols"), ciphers=values.get("ssl_ciphers"),
                    suites=values.get("suites"), prefer_server=values.get("ssl_prefer_server_ciphers"))


# --- OpenSSL configuration commands ------------------------------------------------------------------------------

OPENSSL_KEYS = {"minprotocol": "min_protocol", "protocol": "protocols", "cipherstring": "ciphers",
                "ciphersuites": "suites", "options": "prefer_server"}


def openssl_endpoint(name: str, text: str) -> Optional[Endpoint]:
    """The TLS settings of an OpenSSL-style file (`Key = Value` lines, `[sections]`, `#` comments); None when it
    sets none of them (an openssl.cnf that only configures certificates)."""
    endpoint = Endpoint(name, "openssl")
    found = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if "=" not in line or line.startswith("["):
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        attribute = OPENSSL_KEYS.get(key.lower())
        if attribute and getattr(endpoint, attribute) is None:
            setattr(endpoint, attribute, Value(value.strip("\"'"), f"{name}:{number}"))
            found = True
    return endpoint if found else None


# --- the rules ---------------------------------------------------------------------------------------------------

RULES = {
    "tls.protocols": ("[NT_TLS] §2.1", "TLS 1.2 ou 1.3 seulement (ni SSL, ni TLS 1.0 ou 1.1)",
                      "TLS 1.2 or 1.3 only (no SSL, no TLS 1.0 or 1.1)"),
    "tls.forward_secrecy": ("[NT_TLS] §2.2", "Échange de clés éphémère et authentifié (ECDHE ou DHE) : "
                            "confidentialité persistante", "Ephemeral, authenticated key exchange (ECDHE or DHE): "
                            "forward secrecy"),
    "tls.aead": ("[NT_TLS] §2.2, annexe A.1", "Chiffrement authentifié seulement (AEAD : GCM, CCM, ChaCha20-Poly1305)",
                 "Authenticated encryption only (AEAD: GCM, CCM, ChaCha20-Poly1305)"),
    "tls.weak_algorithms": ("[NT_TLS] annexe A", "Ni RC4, ni 3DES, ni NULL, ni EXPORT, ni MD5, ni suite anonyme",
                            "No RC4, 3DES, NULL, EXPORT, MD5 or anonymous suite"),
    "tls.server_preference": ("[NT_TLS] §2.2", "Ordre de préférence des suites imposé par le serveur",
                              "The server’s order of preference for suites applies"),
}


def expand(cipher_string: str) -> Optional[list[dict]]:
    """The TLS ≤ 1.2 suites a cipher string selects on this machine's OpenSSL; None when it selects none."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.set_ciphers("@SECLEVEL=0:" + cipher_string)
    except ssl.SSLError:
        return None
    return [c for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]


def weak_words(cipher_string: str) -> list[str]:
    """The words of a cipher string that turn on an excluded family (RC4, 3DES, NULL, EXPORT, MD5, anonymous)."""
    found = []
    for token in re.split(r"[:,\s]+", cipher_string):
        if not token or token[0] in "!-" or token.startswith("@"):
            continue
        if any(WEAK_WORDS.search(part) for part in token.lstrip("+").split("+")):
            found.append(token)
    return found


def judge_endpoint(endpoint: Endpoint) -> dict[str, tuple[str, str]]:
    """Each rule's (status, why) for one endpoint."""
    judged = {"tls.protocols": _protocols(endpoint), "tls.server_preference": _preference(endpoint)}
    default = NGINX_DEFAULT_CIPHERS if endpoint.software == "nginx" else OPENSSL_DEFAULT_CIPHERS
    text = endpoint.ciphers.text if endpoint.ciphers else default
    origin = f"{endpoint.ciphers.where}: " if endpoint.ciphers else f"not set: the default {default} "
    suites = expand(text)
    weak = weak_words(text)
    tls13 = [s for s in split_list(endpoint.suites.text.replace(":", ",")) if s] if endpoint.suites else []
    if suites is None:
        judged["tls.forward_secrecy"] = judged["tls.aead"] = (FAIL, f"{origin}{text} selects no suite known to "
                                                              f"{ssl.OPENSSL_VERSION}")
    else:
        not_fs = [s["name"] for s in suites if s["kea"] not in ("kx-ecdhe", "kx-dhe") or s["auth"] == "auth-null"]
        not_aead = [s["name"] for s in suites if not s["aead"]]
        selected = f"{origin}{text}: {len(suites)} suites"
        judged["tls.forward_secrecy"] = (FAIL, f"{origin}{text} allows {shown(not_fs)}") if not_fs else (PASS, selected)
        judged["tls.aead"] = (FAIL, f"{origin}{text} allows {shown(not_aead)}") if not_aead else (PASS, selected)
    refused13 = [s for s in tls13 if s.upper() not in TLS13_SUITES]
    if weak or refused13:
        parts = ([f"{origin}{', '.join(weak)}"] if weak else []) + \
                ([f"{endpoint.suites.where}: {', '.join(refused13)} (TLS 1.3: not a recommended suite)"] if refused13 else [])
        judged["tls.weak_algorithms"] = (FAIL, "; ".join(parts))
    else:
        judged["tls.weak_algorithms"] = (PASS, "")
    return judged


def _protocols(endpoint: Endpoint) -> tuple[str, str]:
    if endpoint.min_protocol is not None and endpoint.protocols is None:
        floor = endpoint.min_protocol
        if floor.text in GOOD_PROTOCOLS:
            return PASS, f"{floor.where}: MinProtocol {floor.text}"
        return FAIL, f"{floor.where}: MinProtocol {floor.text} (older than TLS 1.2)"
    if endpoint.protocols is None:
        if endpoint.software == "nginx":
            return FAIL, "not set: nginx’s default depends on its version (TLS 1.0 and 1.1 before nginx 1.23.4)"
        return FAIL, "not set: the library’s default floor applies, which these files do not show"
    words = [w for w in re.split(r"[\s,]+", endpoint.protocols.text) if w]
    enabled = [w.lstrip("+") for w in words if not w.startswith("-")]
    old = [w for w in enabled if w in OLD_PROTOCOLS or w.upper() == "ALL"]
    unknown = [w for w in enabled if w not in OLD_PROTOCOLS + GOOD_PROTOCOLS and w.upper() != "ALL"]
    where = f"{endpoint.protocols.where}: {endpoint.protocols.text}"
    if old or unknown or not any(w in GOOD_PROTOCOLS for w in enabled):
        why = ", ".join(old + [f"{w} (unknown)" for w in unknown]) or "neither TLS 1.2 nor 1.3"
        return FAIL, f"{where} ({why})"
    return PASS, where


def _preference(endpoint: Endpoint) -> tuple[str, str]:
    value = endpoint.prefer_server
    if endpoint.software == "nginx":
        on = value is not None and value.text.lower() == "on"
    else:
        on = value is not None and "serverpreference" in value.text.lower().replace(" ", "")
    if on:
        return PASS, f"{value.where}: {value.text}"
    shown_value = f"{value.where}: {value.text}" if value else "not set: off by default"
    return ADVICE, f"{shown_value} (clients choose among the allowed suites)"


def check_tls(endpoints: list[Endpoint]) -> list[Check]:
    """One check per rule over every endpoint of the host: the worst status, the detail naming each endpoint."""
    judged = [(e.name, judge_endpoint(e)) for e in endpoints]
    checks = []
    for rule, (source, title_fr, title_en) in RULES.items():
        results = [(name, *found[rule]) for name, found in judged]
        status = worst(s for _n, s, _w in results)
        detail = "; ".join(f"[{name}] {why or 'ok'}" for name, s, why in results if s == status)
        checks.append(Check(rule, source, title_fr, title_en, status, detail))
    return checks
