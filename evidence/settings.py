"""The product's settings: one table (name, type, default, meaning), read once by `configure`.

Order: the table's defaults, then instance/config.py (upper-case names, Python values, checked against the
setting's type), then EVIDENCE_* environment variables (text, parsed by the setting's type), then the
caller's overrides (create_app's argument). A bad value raises SettingError naming the variable. Code that
reads a setting gets the typed value and never parses a string again.

Two settings are read from the environment alone, before any app exists: EVIDENCE_INSTANCE (it locates
instance/config.py) and EVIDENCE_DEBUG (the command line's last line of defence runs when creating the app
is what failed). An EVIDENCE_* variable that is not in the table is not taken as a setting: it is ignored
with a warning, unless it is one of the few documented variables read by something else (NOT_SETTINGS).

The README's configuration table is this table, row for row (tests/test_config.py compares them).
"""
from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from flask import Config, Flask

from evidence.core.vocabulary import DIGEST_CADENCES, LOCALES
from evidence.setting_types import (  # noqa: F401  (SettingError and the types are re-exported)
    FALSE_WORDS,
    SCHEME,
    TRUE_WORDS,
    URL,
    Boolean,
    Choice,
    CollectorSchedule,
    Day,
    DaysByName,
    FilePath,
    Integer,
    Location,
    RoleMap,
    Roles,
    Schemes,
    SettingError,
    Text,
    Url,
    Words,
    parse_boolean,
)

PACKAGE_DIR = Path(__file__).resolve().parent
PREFIX = "EVIDENCE_"

MB = 1024 * 1024

log = logging.getLogger(__name__)


# --- the table -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    name: str  # the app.config key; the environment variable is EVIDENCE_<name>
    type: Any
    default: Any  # None: unset (an empty environment value means unset too); `shown` says what happens then
    meaning: str  # the README's sentence
    shown: str | None = None  # the README's default, when the value alone would not say it
    environment_only: bool = False  # read before any app exists; not an app.config key
    secret: bool = False  # never echoed in an error

    @property
    def variable(self) -> str:
        return PREFIX + self.name

    @property
    def shown_default(self) -> str:
        if self.shown is not None:
            return self.shown
        if isinstance(self.default, bool):
            return "`true`" if self.default else "`false`"
        if self.default == "":
            return "empty"
        return f"`{self.default}`"

    def parse(self, text: str, where: str | None = None) -> Any:
        """The value that the environment's text stands for."""
        if self.default is None and not text.strip():
            return None
        try:
            return self.type.parse(text)
        except ValueError as error:
            raise self.error(where or self.variable, error, text) from None

    def check(self, value: Any, where: str) -> Any:
        """A Python value (instance/config.py, the caller's overrides), as the setting holds it."""
        if value is None and self.default is None:
            return None
        try:
            return self.type.check(value)
        except ValueError as error:
            raise self.error(where, error, value) from None

    def error(self, where: str, expected: ValueError, value: Any) -> SettingError:
        shown = f"a value of type {type(value).__name__}" if self.secret else repr(value)
        return SettingError(f"{where} must be {expected}, got {shown}")


SETTINGS = (
    Setting("INSTANCE", FilePath(), None, "runtime folder: database, secret key, evidence store and `config.py` "
            "(so it is read from the environment only)", shown="`./instance`", environment_only=True),
    Setting("DATABASE_URL", Url(), None, "SQLAlchemy URL; `postgresql://user:pw@host/db` uses psycopg 3",
            shown="`sqlite:///instance/evidence.db`"),
    Setting("SECRET_KEY", Text(), None, "signs sessions and CSRF tokens, authenticates backup manifests "
            "and seals the audit chain; same value on every worker; keep a copy apart from the backups (restoring one "
            "needs it)",
            shown="generated into `instance/secret_key` (mode 0600) on first start", secret=True),
    Setting("STORAGE_URL", Location(), None, "evidence store: a local folder (`file:///srv/evidence` or an "
            "absolute path) or S3-compatible object storage (`s3://bucket/prefix`)", shown="`instance/blobs/`"),
    Setting("S3_ENDPOINT_URL", Url(), None, "endpoint of an S3-compatible service (MinIO, Ceph RGW, Garage, "
            "OVHcloud, Scaleway…); credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`", shown="AWS"),
    Setting("S3_REGION", Text(), "us-east-1", "region name given to the S3 client"),
    Setting("S3_SPOOL_DIR", FilePath(), None, "where an upload is staged while it is hashed, before it goes to S3",
            shown="system temp folder"),
    Setting("MAX_CONTENT_LENGTH", Integer(1), 200 * MB, "largest request (upload) accepted, in bytes; above it, "
            "HTTP 413", shown="`209715200` (200 MB)"),
    Setting("LINK_SCHEMES", Schemes(), ("https",), "the schemes an address given as evidence (a link) may use, "
            "separated by commas (e.g. `https, http` for an intranet without TLS); any other is refused",
            shown="`https`"),
    Setting("LOGIN_MAX_FAILURES", Integer(1), 5, "failed logins for one account from one client address within "
            "the window before that pair gets HTTP 429"),
    Setting("LOGIN_MAX_FAILURES_PER_ADDRESS", Integer(1), 20, "failed logins per client address within the window"),
    Setting("LOGIN_MAX_FAILURES_PER_ACCOUNT", Integer(1), 100, "failed logins for one account from all addresses "
            "within the window before other addresses are throttled too (the address the account last logged in "
            "from is not)"),
    Setting("LOGIN_WINDOW_SECONDS", Integer(1), 15 * 60, "throttling window, in seconds"),
    Setting("SESSION_LIFETIME_MINUTES", Integer(1), 12 * 60, "absolute session lifetime, in minutes: a session ends "
            "this long after its login, however active"),
    Setting("SESSION_IDLE_MINUTES", Integer(1), 30, "idle timeout, in minutes: a session unused this long ends"),
    # Evaluators are outsiders (the evaluation centre) who read restricted evidence: a password alone is not enough.
    Setting("MFA_REQUIRED_ROLES", Roles(), ("admin", "manager", "evaluator"), "the roles that must log in with a "
            "second factor (TOTP or a security key), separated by commas; such a user without one is sent to "
            "enrolment and can open nothing else; empty: nobody is obliged", shown="`admin,manager,evaluator`"),
    # Security keys (WebAuthn): a key signs for one relying party id and the browser vouches for the origin; both
    # must be the address users type. Unset, they are taken from the request, which is trusted on localhost only.
    Setting("WEBAUTHN_RP_ID", Text(), None, "the relying party id security keys are registered for: the site's "
            "host name (`evidence.example.org`) or a parent domain of it; changing it makes every key registered "
            "before unusable", shown="none: the host of `EVIDENCE_WEBAUTHN_ORIGIN`; both unset, security keys work "
            "only on `http://localhost` (development)"),
    Setting("WEBAUTHN_ORIGIN", Url(), None, "the address users open the site at (`https://evidence.example.org`, "
            "scheme, host and port only): a key's answer made for any other origin is refused; set it in production",
            shown="none: `https://` and `EVIDENCE_WEBAUTHN_RP_ID`; both unset, the request's own on localhost only"),
    Setting("WEBAUTHN_RP_NAME", Text(), "Preuves SecNumCloud", "the site's name a browser shows when a key is "
            "registered"),
    Setting("PASSWORD_MIN_LENGTH", Integer(8, 128), 12, "shortest password accepted (passwords found in the "
            "shipped list of common passwords are refused whatever their length)"),
    Setting("PASSWORD_LINK_HOURS", Integer(1, 24 * 30), 72, "how long the one-time link that sets a new account's "
            "password stays valid, in hours"),
    # REST API tokens: each expires; a pipeline's token is renewed on purpose rather than forgotten for ever.
    Setting("API_TOKEN_DAYS", Integer(1, 3660), 90, "how long a new API token stays valid, in days, unless "
            "`--expires-days` says otherwise"),
    # Single sign-on (OpenID Connect): nothing of it is active unless OIDC_ISSUER and OIDC_CLIENT_ID are set.
    Setting("OIDC_ISSUER", Url(), None, "the OpenID provider's issuer URL (e.g. a Keycloak realm's "
            "`https://sso.example.fr/realms/grc`); its discovery document is read from "
            "`<issuer>/.well-known/openid-configuration`", shown="none: no single sign-on"),
    Setting("OIDC_CLIENT_ID", Text(), None, "this application's client id at the provider (the ID token's "
            "audience)", shown="none: no single sign-on"),
    Setting("OIDC_CLIENT_SECRET", Text(), None, "the client's secret (confidential client)",
            shown="none: a public client (PKCE only)", secret=True),
    Setting("OIDC_PROVIDER_NAME", Text(), None, "the provider's name on the login page's button (« Se connecter "
            "avec … »)", shown="the issuer's host name"),
    Setting("OIDC_SCOPES", Words("openid", example="openid email profile"), ("openid", "email", "profile"),
            "scopes asked for, separated by spaces or commas (`openid` is required)", shown="`openid email profile`"),
    Setting("OIDC_ROLE_CLAIM", Text(), "groups", "the ID token claim holding the user's groups (a list or one "
            "string) that `EVIDENCE_OIDC_ROLE_MAP` maps to roles"),
    Setting("OIDC_ROLE_MAP", RoleMap(), (), "groups mapped to roles (`grc-admins=admin, grc-managers=manager`; the "
            "first listed group the user has wins): set, the role follows the provider at every login and a user "
            "with none of these groups is refused; empty, roles are managed here", shown="empty"),
    Setting("OIDC_CREATE_USERS", Boolean(), False, "create the account of an unknown user at his first SSO login "
            "(needs `EVIDENCE_OIDC_ROLE_MAP` and a verified e-mail); off, an administrator creates accounts first"),
    Setting("OIDC_MFA_AMR", Words(example="mfa, otp, hwk, swk"), ("mfa", "otp", "hwk", "swk"), "values of the ID "
            "token's `amr` claim that show a multi-factor login at the provider: such an SSO login satisfies the "
            "second-factor policy", shown="`mfa, otp, hwk, swk`"),
    Setting("OIDC_MFA_ACR", Words(example="gold"), (), "values of the ID token's `acr` claim that show a "
            "multi-factor login at the provider (e.g. a Keycloak level of authentication)", shown="none"),
    Setting("OIDC_PASSWORD_LOGIN", Boolean(), False, "let users bound to the provider still log in with a "
            "password (off: they use single sign-on only)"),
    Setting("ADMIN_APPROVES", Boolean(), False, "let administrators approve evidence and dossiers too (very small "
            "teams); by default administrators manage accounts and settings and the compliance managers approve "
            "(separation of duties)"),
    Setting("MANIFEST_MAX_ROWS", Integer(1), 100_000, "most rows an import manifest (CSV or XLSX) may hold"),
    Setting("MANIFEST_MAX_BYTES", Integer(1), 50 * MB, "largest import manifest, in bytes, once uncompressed (an "
            "XLSX is a zip: its size is checked before it is parsed)", shown="`52428800` (50 MB)"),
    Setting("TRUSTED_PROXIES", Integer(0), 0, "number of reverse proxies whose `X-Forwarded-*` headers are trusted"),
    Setting("SQLITE_BUSY_TIMEOUT_MS", Integer(0), 15_000, "how long SQLite waits for a lock, in milliseconds"),
    Setting("DEFAULT_LOCALE", Choice(*LOCALES), "fr", "UI language before a user picks one"),
    Setting("ORGANISATION", Text(), "", "the provider's name, printed on the dossier's cover"),
    Setting("DOSSIER_MAX_ATTACHMENTS", Integer(0), 200 * MB, "ceiling, in bytes, of the evidence files embedded in "
            "a dossier (`--attach-evidence`)", shown="`209715200` (200 MB)"),
    Setting("DOSSIER_RENDER_WORKERS", Integer(1), None, "processes laying out the dossier's parts in parallel",
            shown="one per core"),
    Setting("DOSSIER_CACHE", Boolean(), True, "keep rendered parts to re-render a new version fast (only changed "
            "parts are laid out again)"),
    Setting("DOSSIER_CACHE_DIR", FilePath(), None, "where the rendered parts are kept",
            shown="`instance/dossier-cache/`"),
    Setting("DOSSIER_CACHE_LIMIT", Integer(0), 256 * MB, "size of the part cache, in bytes (least recently used "
            "parts go first)", shown="`268435456` (256 MB)"),
    Setting("DOSSIER_TAGGED", Boolean(), False, "tag the dossier (one PDF structure tree, for assistive "
            "technologies); the merge of a large dossier then takes about eight times longer"),
    Setting("DOSSIER_MARKING", Text(), "", "the marking printed on every page of the dossier (e.g. "
            "\"C2 – usage interne\"); empty: none. This tool cannot honour a regulated protection mention "
            "(\"Diffusion restreinte\"): do not use one", shown="none"),
    Setting("DOSSIER_APPROVER_FUNCTIONS", Text(), "Responsable de la sécurité des systèmes d'information (RSSI);"
            "Direction", "the two functions that approve a dossier version (four eyes), separated by `;`; the "
            "approval page prints them", shown="`Responsable de la sécurité des systèmes d'information (RSSI);Direction`"),
    Setting("DOSSIER_SIGNING_PKCS12", FilePath(), None, "the organisation's certificate and key (PKCS#12) that "
            "sign approved dossiers (PAdES)", shown="none: dossiers are not signed"),
    Setting("DOSSIER_SIGNING_PASSPHRASE_FILE", FilePath(), None, "a file holding the PKCS#12's passphrase "
            "(kept out of the environment)", shown="none: no passphrase"),
    Setting("DOSSIER_TSA_URL", Url(), None, "an RFC 3161 time-stamping authority the signature's timestamp comes "
            "from (the one outbound call the app makes, to an address the administrator sets)",
            shown="none: no timestamp"),
    # Automated evidence: how long a collector's result stands before it stops counting as proof.
    Setting("COLLECTOR_TTL_DAYS", Integer(1), 7, "how long a collector's result (automated evidence) counts as "
            "proof after its run, in days, unless `EVIDENCE_COLLECTOR_TTL` names the collector"),
    Setting("COLLECTOR_TTL", DaysByName(), {}, "per collector, how long its result counts as proof, in days "
            "(`prowler=7, tls-ssh=30`)", shown="empty: `EVIDENCE_COLLECTOR_TTL_DAYS` for every collector"),
    Setting("COLLECTOR_SCHEDULE", CollectorSchedule(), (), "collections the job queue runs by itself: "
            "`collector:perimeter:path@cadence` entries separated by commas (`tls-ssh:iaas-fr1:/srv/hosts@daily`); "
            "`hourly` at the top of every hour, `daily` at 2 h and `weekly` on Mondays at 2 h, server time; the path "
            "is read on the worker's machine", shown="empty: none"),
    Setting("HUEY_DB", FilePath(), None, "the background-job queue (huey, SQLite storage)", shown="`instance/jobs.db`"),
    # Redis lets every node of a cluster share the queue; its URL may hold a password, hence secret.
    Setting("QUEUE_URL", Url(), None, "the background-job queue on Redis (`redis://host:6379/0`, `rediss://…`), "
            "shared by every node of a cluster, which then runs each periodic task once", shown="none: the SQLite "
            "queue `EVIDENCE_HUEY_DB` (one server)", secret=True),
    Setting("JOBS_IMMEDIATE", Boolean(), False, "run background jobs at once, in the process that asks for them, "
            "with no queue (the tests do)"),
    Setting("SMTP_HOST", Text(), None, "mail server for the digest and `evidence reminders --send`", shown="none: no mail is sent"),
    Setting("SMTP_PORT", Integer(1, 65535), 25, "mail server's port"),
    Setting("SMTP_FROM", Text(), "evidence@localhost", "sender of the digest and the reminders"),
    Setting("SMTP_USER", Text(), None, "account to log in to the mail server with", shown="none: no login"),
    Setting("SMTP_PASSWORD", Text(), None, "password of `EVIDENCE_SMTP_USER`", shown="none", secret=True),
    Setting("SMTP_STARTTLS", Boolean(), False, "switch the mail connection to TLS (STARTTLS) before logging in"),
    Setting("DIGEST_CADENCE", Choice(*DIGEST_CADENCES), "daily", "how often the job queue mails each user the digest "
            "of what is new or due (`weekly`: on Mondays; `never`: only `evidence digest send`); needs "
            "`EVIDENCE_SMTP_HOST`"),
    Setting("DIGEST_HOUR", Integer(0, 23), 7, "the hour (server's local time) the digest goes out"),
    Setting("TODAY", Day(), None, "the date taken for today (tests and demonstrations fix it)",
            shown="none: the current date (UTC)"),
    Setting("DEBUG", Boolean(), False, "show the traceback of an unexpected command-line failure instead of one "
            "line (read from the environment only)", environment_only=True),
)
BY_NAME = {s.name: s for s in SETTINGS}
APP_SETTINGS = {s.name: s for s in SETTINGS if not s.environment_only}

# EVIDENCE_* variables that are not settings but are read by something else, so they draw no warning.
NOT_SETTINGS = {
    "ADMIN_PASSWORD": "evidence init --admin-password",
    "USER_PASSWORD": "evidence users add --password",
    "TEST_DATABASE_URL": "the test suite's PostgreSQL server",
    "TEST_REDIS_URL": "the test suite's Redis server",
    "CHROMIUM": "the browser tests' Chromium executable",
    "LOCALE": "the command line's language (fr or en; else LC_ALL, LC_MESSAGES, LANG)",
}


def defaults() -> dict:
    return {s.name: s.default for s in APP_SETTINGS.values()}


def documentation() -> list[tuple[str, str, str, str]]:
    """The README's configuration table, row for row: variable, type, default, meaning."""
    return [(s.variable, s.type.label, s.shown_default, s.meaning) for s in SETTINGS]


# --- reading -------------------------------------------------------------------------------------------


def from_environment(environ: Mapping[str, str] = os.environ) -> dict:
    """The app settings that EVIDENCE_* variables set, parsed by their type."""
    return {name: APP_SETTINGS[name].parse(text) for name, text in _prefixed(environ) if name in APP_SETTINGS}


def unknown_variables(environ: Mapping[str, str] = os.environ) -> list[str]:
    """EVIDENCE_* variables that name no setting (a typo, or a setting that no longer exists)."""
    return sorted(PREFIX + name for name, _ in _prefixed(environ) if name not in BY_NAME and name not in NOT_SETTINGS)


def _prefixed(environ: Mapping[str, str]):
    return ((key.removeprefix(PREFIX), value) for key, value in environ.items() if key.startswith(PREFIX))


def from_environment_only(name: str, environ: Mapping[str, str] = os.environ) -> Any:
    """A setting read before any app exists (EVIDENCE_INSTANCE, EVIDENCE_DEBUG)."""
    setting = BY_NAME[name]
    text = environ.get(setting.variable)
    return setting.default if text is None else setting.parse(text)


def from_instance_file(path: Path) -> dict:
    """instance/config.py's upper-case names; those of the table are checked against their type, the others
    (Flask's and its extensions' own settings, such as SESSION_COOKIE_SECURE) are left as they are."""
    loaded = Config(str(path.parent))
    loaded.from_pyfile(path.name, silent=True)
    return checked(loaded, f"in {path}")


def checked(values: Mapping[str, Any], where: str = "") -> dict:
    """`values` with those of the table's app settings checked against their type."""
    suffix = f" {where}" if where else ""
    return {name: APP_SETTINGS[name].check(value, name + suffix) if name in APP_SETTINGS else value
            for name, value in values.items()}


def instance_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The instance folder: EVIDENCE_INSTANCE, else ./instance in the working directory."""
    return Path(from_environment_only("INSTANCE", environ) or Path.cwd() / "instance").resolve()


def debug_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """EVIDENCE_DEBUG, for the command line's handler of unexpected failures. That handler runs when
    creating the app failed too, perhaps over this very variable: there, a bad value counts as off (the
    one-line error already names it)."""
    try:
        return from_environment_only("DEBUG", environ)
    except SettingError:
        return False


# --- the app -------------------------------------------------------------------------------------------

warned: set[str] = set()  # unknown variables already reported by this process (a worker builds many apps)


def configure(app: Flask, overrides: Mapping[str, Any]) -> None:
    config = app.config
    instance = Path(app.instance_path)
    config.update(defaults())
    config.update(from_instance_file(instance / "config.py"))
    config.update(from_environment())
    config.update(checked(overrides))
    for variable in unknown_variables():
        if variable not in warned:
            warned.add(variable)
            log.warning("%s is not a setting of the product: ignored (the settings are listed in README.md)",
                        variable)
    # Defaults that live in the instance folder.
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = sqlite_url(instance)
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = load_secret_key(instance)
    if config["HUEY_DB"] is None:
        config["HUEY_DB"] = instance / "jobs.db"
    if config["DOSSIER_CACHE_DIR"] is None:
        config["DOSSIER_CACHE_DIR"] = instance / "dossier-cache"
    config.update(
        SESSION_COOKIE_NAME="evidence_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,  # "remember me" is not offered; Flask-Login may still clear the cookie
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=config["SESSION_LIFETIME_MINUTES"]),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which has its own lifetime
        BABEL_DEFAULT_LOCALE=config["DEFAULT_LOCALE"],
    )


def resource_dir(name: str) -> Path:
    """A data folder shipped with the product (templates, controls).

    Installed from a wheel it sits inside the package; in a source checkout (editable install) it sits
    beside the package, at the top of the repository.
    """
    for candidate in (PACKAGE_DIR / "bundled" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"the product's {name}/ folder is missing from {PACKAGE_DIR}")


def load_secret_key(instance: Path) -> str:
    """Read instance/secret_key, creating it on first use.

    O_EXCL makes concurrent first starts (several gunicorn workers) agree on one key.
    """
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)  # the instance is its owner's (data.instance_files)
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
