"""Settings: defaults, then instance/config.py, then EVIDENCE_* environment variables, then the caller's.

The instance folder is ./instance in the working directory unless EVIDENCE_INSTANCE names another.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """A data folder shipped with the product (templates, controls).

    Installed from a wheel it sits inside the package; in a source checkout (editable install) it sits
    beside the package, at the top of the repository.
    """
    for candidate in (PACKAGE_DIR / "bundled" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"the product's {name}/ folder is missing from {PACKAGE_DIR}")


def instance_path() -> Path:
    return Path(os.environ.get("EVIDENCE_INSTANCE") or Path.cwd() / "instance").resolve()


DEFAULTS = {
    "DATABASE_URL": None,  # None: SQLite file evidence.db in the instance folder
    "STORAGE_URL": None,  # None: content-addressed folder blobs/ in the instance folder
    "MAX_CONTENT_LENGTH": 200 * 1024 * 1024,
    "LOGIN_MAX_FAILURES": 5,  # per account, within LOGIN_WINDOW_SECONDS
    "LOGIN_MAX_FAILURES_PER_ADDRESS": 20,
    "LOGIN_WINDOW_SECONDS": 15 * 60,
    "TRUSTED_PROXIES": 0,  # number of reverse proxies whose X-Forwarded-* headers are believed
    "SQLITE_BUSY_TIMEOUT_MS": 15_000,
    "DEFAULT_LOCALE": "fr",
    "ORGANISATION": "",  # the provider's name, on the dossier's cover
    "DOSSIER_MAX_ATTACHMENTS": 200 * 1024 * 1024,  # ceiling of the files embedded in a dossier
    "SMTP_PORT": 25,
    "SESSION_LIFETIME_MINUTES": 8 * 60,
}

# Environment variables read as integers; everything else is a string.
_INTEGERS = {k for k, v in DEFAULTS.items() if isinstance(v, int)}


def from_environment(environ=os.environ) -> dict:
    settings = {}
    for key, value in environ.items():
        if not key.startswith("EVIDENCE_") or key in ("EVIDENCE_INSTANCE",):
            continue
        name = key.removeprefix("EVIDENCE_")
        if name in _INTEGERS:
            try:
                settings[name] = int(value)
            except ValueError:
                raise ValueError(f"{key} must be an integer, got {value!r}") from None
        else:
            settings[name] = value
    return settings


def load_secret_key(instance: Path) -> str:
    """Read instance/secret_key, creating it on first use.

    O_EXCL makes concurrent first starts (several gunicorn workers) agree on one key.
    """
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
                f.flush()
                os.fsync(f.fileno())
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} is too short to be a secret key; delete it to have a new one made")
    return key


def sqlite_url(instance: Path) -> str:
    return f"sqlite:///{instance / 'evidence.db'}"
