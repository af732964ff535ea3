"""An OpenSSH server's configuration (`sshd_config`) read and judged against ANSSI's guide [NT_SSH], which
SecNumCloud 10.2.e requires the provider to follow: « Recommandations pour un usage sécurisé d’(Open)SSH »
(DAT-NT-007). Rule numbers are the French guide's (R1, R15...); where a rule is named by its topic instead, the guide
states it in its text rather than as a numbered recommendation, or the number could not be checked here.

Pure: the text of the files in, checks out. sshd takes the first value it reads for a keyword (HostKey
accumulates); a `Match` block overrides it for the connections it matches, so a weak value inside one is judged
too. `Include` is followed through a resolver the caller gives (the collector keeps it inside the host's folder).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from evidence.collectors.config_checks import ADVICE, FAIL, PASS, SEVERITY, Check, shown, split_list, worst

MAX_INCLUDE_DEPTH = 16  # as sshd's own limit: an Include loop stops here instead of running away


@dataclass(frozen=True)
class Directive:
    keyword: str  # lower case: sshd's keywords are case-insensitive
    value: str  # the arguments, as written (quotes removed)
    where: str  # "sshd_config:12"


@dataclass
class SshdConfig:
    settings: dict[str, Directive] = field(default_factory=dict)  # global: the first value of each keyword
    host_keys: list[Directive] = field(default_factory=list)  # HostKey accumulates
    matches: list[tuple[Directive, dict[str, Directive]]] = field(default_factory=list)  # each Match and its values


# (pattern) -> [(name, text)]: the files an Include names, in the order sshd reads them.
IncludeResolver = Callable[[str], list[tuple[str, str]]]

_LINE = re.compile(r"^(\S+?)(?:\s*=\s*|\s+)(.*)$")


def words_of(text: str) -> list[str]:
    """sshd's splitting of a line's arguments: whitespace, double quotes, and a `#` starting a word ends the line."""
    words, current, quoted, started = [], [], False, False
    for char in text:
        if quoted:
            if char == '"':
                quoted = False
            else:
                current.append(char)
        elif char == '"':
            quoted, started = True, True
        elif char.isspace():
            if started:
                words.append("".join(current))
                current, started = [], False
        elif char == "#" and not started:
            break
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))
    return words


def parse_sshd(name: str, text: str, include: Optional[IncludeResolver] = None) -> SshdConfig:
    config = SshdConfig()
    _read(config, name, text, include, None, 0)
    return config


def _read(config: SshdConfig, name: str, text: str, include, block: Optional[dict], depth: int) -> Optional[dict]:
    """Read one file into `config`; `block` is the Match block being filled (None: the global part). Returns the
    block in force at the end (an included file may open a Match that lasts to the end of the including file, as
    in sshd)."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        found = _LINE.match(line)
        keyword, rest = (found.group(1), found.group(2)) if found else (line, "")
        keyword = keyword.lower()
        directive = Directive(keyword, " ".join(words_of(rest)), f"{name}:{number}")
        if keyword == "match":
            block = {}
            config.matches.append((directive, block))
        elif keyword == "include":
            if include is not None and depth < MAX_INCLUDE_DEPTH:
                for pattern in words_of(rest):
                    for included_name, included_text in include(pattern):
                        block = _read(config, included_name, included_text, include, block, depth + 1)
        elif block is not None:
            block.setdefault(keyword, directive)
        elif keyword == "hostkey":
            config.host_keys.append(directive)
        else:
            config.settings.setdefault(keyword, directive)
    return block


# --- the rules ---------------------------------------------------------------------------------------------------

CIPHERS = ("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com", "aes256-ctr",
           "aes192-ctr", "aes128-ctr")
MACS = ("hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512", "hmac-sha2-256")
KEX = ("mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com", "curve25519-sha256",
       "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
       "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
       "diffie-hellman-group14-sha256")
# Why an algorithm outside the lists is refused, in the order the words are looked for in its name.
WEAKNESSES = (("arcfour", "RC4"), ("rc4", "RC4"), ("3des", "3DES"), ("blowfish", "Blowfish"), ("cast128", "CAST-128"),
              ("md5", "MD5"), ("ripemd", "RIPEMD"), ("group1-", "1024-bit group"), ("sha1", "SHA-1"),
              ("umac-64", "64-bit tag"), ("cbc", "CBC mode"), ("none", "no protection"))


def weakness(algorithm: str) -> str:
    lowered = algorithm.lower()
    return next((why for word, why in WEAKNESSES if word in lowered), "not in the accepted list")


@dataclass(frozen=True)
class Rule:
    id: str
    source: str
    title_fr: str
    title_en: str
    keyword: str
    default: str  # sshd's value when the keyword is absent ("" : no usable default, the absence is judged)
    judge: Callable[[str], tuple[str, str]]  # value -> (status, why)


def _yes_no(good: str, bad_status: str = FAIL):
    def judge(value: str) -> tuple[str, str]:
        word = value.lower()
        return (PASS, "") if word == good else (bad_status, f"should be {good}")
    return judge


def _root_login(value: str) -> tuple[str, str]:
    if value.lower() in ("no", "prohibit-password", "without-password", "forced-commands-only"):
        return PASS, ""
    return FAIL, "root may log in with a password"


def _protocol(value: str) -> tuple[str, str]:
    return (PASS, "") if split_list(value) == ["2"] else (FAIL, "SSH version 1 allowed")


def _tcp_forwarding(value: str) -> tuple[str, str]:
    return (PASS, "") if value.lower() == "no" else (ADVICE, "forwarding allowed: justify the need or set no")


def _algorithms(accepted: tuple[str, ...]):
    def judge(value: str) -> tuple[str, str]:
        if not value:
            return FAIL, "not set: the list is then OpenSSH’s default for its version, which these files do not show"
        if value[0] in "+-^":
            return FAIL, "changes OpenSSH’s default list instead of naming the algorithms"
        refused = [f"{a} ({weakness(a)})" for a in split_list(value) if a.lower() not in accepted]
        return (FAIL, "refused: " + shown(refused)) if refused else (PASS, "")
    return judge


RULES = (
    Rule("ssh.protocol", "[NT_SSH] version du protocole", "Seule la version 2 du protocole SSH est acceptée",
         "Only version 2 of the SSH protocol is accepted", "protocol", "2", _protocol),
    Rule("ssh.permit_root_login", "[NT_SSH] connexion de root", "Pas de connexion de root par mot de passe (chacun son compte)",
         "No password login as root (one account per person)", "permitrootlogin", "prohibit-password", _root_login),
    Rule("ssh.password_authentication", "[NT_SSH] authentification des utilisateurs",
         "Authentification des utilisateurs par clé plutôt que par mot de passe",
         "Users authenticate with keys rather than passwords", "passwordauthentication", "yes", _yes_no("no", ADVICE)),
    Rule("ssh.permit_empty_passwords", "[NT_SSH] authentification des utilisateurs", "Aucun mot de passe vide accepté",
         "No empty password accepted", "permitemptypasswords", "no", _yes_no("no")),
    Rule("ssh.ciphers", "[NT_SSH] algorithmes de chiffrement", "Chiffrement imposé : AES (CTR ou GCM) ou ChaCha20-Poly1305 ; ni CBC, ni RC4, "
         "ni 3DES", "Ciphers set: AES (CTR or GCM) or ChaCha20-Poly1305; no CBC, RC4 or 3DES", "ciphers", "",
         _algorithms(CIPHERS)),
    Rule("ssh.macs", "[NT_SSH] algorithmes d’intégrité", "Intégrité imposée : HMAC SHA-2 ; ni SHA-1, ni MD5",
         "Integrity set: HMAC with SHA-2; no SHA-1 or MD5", "macs", "", _algorithms(MACS)),
    Rule("ssh.kex", "[NT_SSH] échange de clés", "Échange de clés imposé : courbes elliptiques ou Diffie-Hellman d’au "
         "moins 2048 bits avec SHA-2", "Key exchange set: elliptic curves or Diffie-Hellman of 2048 bits or more with "
         "SHA-2", "kexalgorithms", "", _algorithms(KEX)),
    Rule("ssh.x11_forwarding", "[NT_SSH] redirection X11", "Redirection X11 désactivée", "X11 forwarding disabled",
         "x11forwarding", "no", _yes_no("no")),
    Rule("ssh.permit_user_environment", "[NT_SSH] environnement utilisateur", "Environnement de session non modifiable par l’utilisateur",
         "Users may not alter the session environment", "permituserenvironment", "no", _yes_no("no")),
    Rule("ssh.tcp_forwarding", "[NT_SSH] redirection de flux", "Redirections de flux désactivées sauf besoin justifié",
         "Port forwarding disabled unless the need is justified", "allowtcpforwarding", "yes", _tcp_forwarding),
)
HOST_KEYS = ("ssh.host_keys", "[NT_SSH] authentification du serveur", "Pas de clé d’hôte DSA",
             "No DSA host key")


def check_sshd(config: SshdConfig) -> list[Check]:
    """Every rule judged on the configuration: its global value (or sshd's default) and each Match block's."""
    checks = [_judged(rule, config) for rule in RULES]
    checks.append(_host_keys(config))
    return checks


def _judged(rule: Rule, config: SshdConfig) -> Check:
    found = config.settings.get(rule.keyword)
    status, why = rule.judge(found.value if found else rule.default)
    if found:
        lines = [f"{found.where}: {found.value}" + (f" ({why})" if why else "")]
    else:
        lines = [f"not set: sshd’s default is {rule.default}" + (f" ({why})" if why else "") if rule.default
                 else why]
    for match, block in config.matches:
        inside = block.get(rule.keyword)
        if inside is None:
            continue
        inner_status, inner_why = rule.judge(inside.value)
        if SEVERITY[inner_status] > SEVERITY[PASS]:
            lines.append(f"{inside.where} in Match {match.value}: {inside.value} ({inner_why})")
            status = worst((status, inner_status))
    return Check(rule.id, rule.source, rule.title_fr, rule.title_en, status, "; ".join(lines))


def _host_keys(config: SshdConfig) -> Check:
    dsa = [f"{d.where}: {d.value}" for d in config.host_keys if re.search(r"(^|[^c])dsa", d.value.lower())]
    algorithms = config.settings.get("hostkeyalgorithms")
    if algorithms and "ssh-dss" in algorithms.value.lower():
        dsa.append(f"{algorithms.where}: ssh-dss")
    if dsa:
        return Check(*HOST_KEYS, FAIL, "DSA: " + "; ".join(dsa))
    keys = ", ".join(d.value for d in config.host_keys)
    return Check(*HOST_KEYS, PASS, keys or "not set: sshd’s default keys (RSA, ECDSA, Ed25519; no DSA since 7.0)")
