"""The `tls-ssh` collector: hosts' TLS and SSH server configurations, checked against the ANSSI guides SecNumCloud
cites (10.2.c: [NT_TLS]; 10.2.e: [NT_SSH]), without any network access.

Input: a folder for one host, or a folder of host folders (each named after its host), holding copies of
- `sshd_config` (and what its `Include` lines name, looked up in the same folder: `/etc/ssh/sshd_config.d/*.conf`
  is read from `sshd_config.d/*.conf`);
- an nginx configuration: `nginx.conf` and every file under `nginx/`;
- OpenSSL configuration commands: `tls.conf` or `openssl.cnf` (`MinProtocol`, `CipherString`, `Ciphersuites`...).

One `Collected` per host: its file is a JSON report that embeds the configuration files judged (name, SHA-256,
text), every check with the recommendation it comes from, and the result. It answers 10.2.e#1 (the sshd
configuration compared with [NT_SSH]) when it read an sshd_config, 10.2.c#1 (TLS configurations compared with
[NT_TLS]) when it found a TLS server; the scans of 10.2.c#2, the certificates and the SSH key procedure of 10.2.e#2
are other evidence.

The run is the reading itself, dated by the caller's clock (`now`). The report carries the day of the check, not
its time: the same folder checked again the same day is the same report (nothing changes), and the next day's check
adds a version, which keeps the result fresh (its time-to-live runs from the run's date).
"""
from __future__ import annotations

import hashlib
import json
import re
import ssl
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

from evidence.collectors import Collected, CollectedFile, result_of
from evidence.collectors.config_checks import counts_of, failing_of
from evidence.collectors.ssh_config import check_sshd, parse_sshd
from evidence.collectors.tls_config import check_tls, nginx_endpoints, openssl_endpoint
from evidence.core.errors import N_, EvidenceError

MAX_FILE_BYTES = 1024 * 1024  # a configuration file is text of a few kilobytes: more is not one
MAX_FILES = 200  # per host
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
OPENSSL_FILES = ("tls.conf", "openssl.cnf")
GUIDES = {
    "NT_TLS": "ANSSI, Recommandations de sécurité relatives à TLS, v1.2 (SDE-NT-35), 2020",
    "NT_SSH": "ANSSI, Recommandations pour un usage sécurisé d’(Open)SSH (DAT-NT-007)",
}
SSH_ANSWERS = {"10.2.e": ("10.2.e#1",)}
TLS_ANSWERS = {"10.2.c": ("10.2.c#1",)}


class HostFiles:
    """A host's folder, read once: every file's bytes as judged (the report embeds the same bytes)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.root = folder.resolve()
        self.read: dict[str, bytes] = {}

    def inside(self, path: Path) -> bool:
        """A regular file of the host's folder (a link that leads out of it is not)."""
        try:
            return path.is_file() and path.resolve().is_relative_to(self.root)
        except OSError:
            return False

    def text(self, path: Path) -> tuple[str, str]:
        name = path.relative_to(self.folder).as_posix()
        if name not in self.read:
            if len(self.read) >= MAX_FILES:
                raise EvidenceError(N_("%(host)s : plus de %(count)s fichiers de configuration"), host=self.folder.name,
                                    count=MAX_FILES)
            if path.stat().st_size > MAX_FILE_BYTES:
                raise EvidenceError(N_("%(file)s : plus de %(limit)s octets, ce n’est pas un fichier de configuration"),
                                    file=str(path), limit=MAX_FILE_BYTES)
            self.read[name] = path.read_bytes()
        return name, self.read[name].decode("utf-8", errors="replace")

    def include(self, pattern: str) -> list[tuple[str, str]]:
        """The files an sshd `Include` names, looked up in the host's folder: a pattern under /etc/ssh/ (or
        relative, which sshd reads from /etc/ssh/) is taken from the folder; another absolute one by its last two
        parts (`/etc/sshd.d/*.conf` → `sshd.d/*.conf`)."""
        relative = pattern.removeprefix("/etc/ssh/") if not pattern.startswith("/") or pattern.startswith("/etc/ssh/") \
            else "/".join(Path(pattern).parts[-2:])
        if not relative or relative.startswith("/") or ".." in Path(relative).parts:
            return []
        return [self.text(path) for path in sorted(self.folder.glob(relative)) if self.inside(path)]


def is_host(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("sshd_config", "nginx.conf", *OPENSSL_FILES)) \
        or (folder / "nginx").is_dir()


def host_folders(source: Path) -> list[Path]:
    """The host folders `source` names: itself when it holds a configuration, else its sub-folders that do."""
    if not source.is_dir():
        raise EvidenceError(N_("%(path)s n’est pas un dossier : donnez le dossier d’un hôte ou un dossier de dossiers "
                               "d’hôtes"), path=str(source), field="source")
    if is_host(source):
        return [source]
    hosts = [child for child in sorted(source.iterdir()) if not child.name.startswith(".") and child.is_dir()
             and is_host(child)]
    if not hosts:
        raise EvidenceError(N_("%(path)s : aucune configuration d’hôte (sshd_config, nginx.conf, nginx/, tls.conf ou "
                               "openssl.cnf)"), path=str(source), field="source")
    return hosts


def check_host(folder: Path) -> tuple[HostFiles, list, list]:
    """(the files read, the SSH checks, the TLS checks) of one host's folder."""
    files = HostFiles(folder)
    ssh_checks, tls_checks = [], []
    if files.inside(folder / "sshd_config"):
        name, text = files.text(folder / "sshd_config")
        ssh_checks = check_sshd(parse_sshd(name, text, files.include))
    endpoints = []
    nginx = [folder / "nginx.conf"] if files.inside(folder / "nginx.conf") else []
    nginx += sorted(p for p in (folder / "nginx").rglob("*") if files.inside(p)) if (folder / "nginx").is_dir() else []
    if nginx:
        endpoints += nginx_endpoints([files.text(path) for path in nginx])
    for candidate in OPENSSL_FILES:
        if files.inside(folder / candidate):
            endpoint = openssl_endpoint(*files.text(folder / candidate))
            if endpoint is not None:
                endpoints.append(endpoint)
    if endpoints:
        tls_checks = check_tls(endpoints)
    return files, ssh_checks, tls_checks


def report(host: str, day: str, files: HostFiles, ssh_checks: list, tls_checks: list) -> bytes:
    """The JSON the version keeps: what was read and how it was judged. Deterministic for the same files on the
    same day (keys sorted, no time of day): the same check again is the same file."""
    checks = ssh_checks + tls_checks
    counts = counts_of(checks)
    document = {
        "collector": "tls-ssh", "host": host, "checked_on": day, "result": result_of(counts),
        "counts": counts.as_dict(), "guides": GUIDES, "cipher_strings_expanded_with": ssl.OPENSSL_VERSION,
        "checks": [c.as_dict() for c in checks],
        "files": [{"name": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                   "text": data.decode("utf-8", errors="replace")} for name, data in sorted(files.read.items())],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


class TlsSshCollector:
    name = "tls-ssh"
    label = {"fr": "TLS/SSH", "en": "TLS/SSH"}
    default_ttl_days = 30  # a host's configuration changes with its deployments, not daily as a cloud account's
    takes = "folder"
    default_source = "host-config"

    def collect(self, source: Path, options: Mapping[str, Any]) -> list[Collected]:
        unknown = sorted(set(options) - {"now"})
        if unknown:
            raise EvidenceError(N_("%(collector)s : option inconnue « %(option)s »"), collector=self.name,
                                option=unknown[0], field="option")
        now: Optional[datetime] = options.get("now")
        now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        collected = []
        for folder in host_folders(Path(source)):
            if not HOST_NAME.match(folder.name):
                raise EvidenceError(N_("%(path)s : un nom d’hôte fait de lettres, chiffres, points, tirets ou soulignés "
                                       "est attendu"), path=str(folder), field="source")
            collected.append(self.collect_host(folder, now))
        return collected

    def collect_host(self, folder: Path, now: datetime) -> Collected:
        files, ssh_checks, tls_checks = check_host(folder)
        checks = ssh_checks + tls_checks
        if not checks:  # no result rather than a "passed" that judged nothing
            raise EvidenceError(N_("%(path)s : ni sshd_config lisible ni serveur TLS configuré, rien à contrôler"),
                                path=str(folder), field="source")
        counts = counts_of(checks)
        answers = {**(SSH_ANSWERS if ssh_checks else {}), **(TLS_ANSWERS if tls_checks else {})}
        host = folder.name
        content = report(host, now.date().isoformat(), files, ssh_checks, tls_checks)
        return Collected(
            subject=host, title=f"Configuration TLS et SSH de l’hôte {host} (recommandations de l’ANSSI)",
            result=result_of(counts), counts=counts, run_at=now, failing=failing_of(checks, host), answers=answers,
            files=(CollectedFile(f"tls-ssh-{host}.json", "application/json", content=content),),
            description=f"Configuration SSH (sshd_config) et TLS (nginx, OpenSSL) de l’hôte {host}, comparée par le "
                        "collecteur tls-ssh aux recommandations de l’ANSSI que citent les exigences 10.2.c ([NT_TLS]) "
                        "et 10.2.e ([NT_SSH]). Le rapport JSON contient les fichiers lus et chaque règle jugée.")
