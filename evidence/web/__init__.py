"""The web UI: blueprints, the access check every request passes, headers, locale and error pages."""
from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from evidence import context as db
from evidence.core.access import PUBLIC, READ_METHODS, public
from evidence.core.errors import ConflictError, EvidenceError
from evidence.core.rules import evaluation
from evidence.core.vocabulary import LOCALES  # re-exported for the views
from evidence.extensions import login_manager
from evidence.presentation import labels, messages, sovereignty_words, typography
from evidence.services import users as auth

# The navigation, in one place; each role sees the areas it may open.
NAVIGATION = (
    ("dashboard.index", _l("Tableau de bord")),
    ("inbox.index", _l("Notifications")),  # base.html adds the count of unread notifications and tasks
    ("requirements.index", _l("Exigences")),
    ("perimeters.index", _l("Périmètres")),
    ("controls.index", _l("Mesures")),
    ("evidence.index", _l("Preuves")),
    ("dossiers.index", _l("Dossiers")),
    ("admin.users", _l("Utilisateurs")),
    ("admin.audit_log", _l("Journal d'audit")),
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class TlsAwareSessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request came over TLS (directly or via a trusted proxy)."""

    def get_cookie_secure(self, app):
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure

    def open_session(self, app, request):
        # The API authenticates by bearer token alone (evidence.api.auth): a browser's cookie sent along opens no
        # session there, so a forged cross-site request has nothing to ride on and no cookie is ever set.
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


class BoundedIntConverter(IntegerConverter):
    """<int:…> that refuses numbers no column can hold (a 404 rather than a database error)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(*args, **kwargs)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedIntConverter
    from evidence.web import (
        account,
        admin,
        controls,
        dashboard,
        dossiers,
        evidence,
        findings,
        inbox,
        perimeters,
        readiness,
        requirements,
        sovereignty,
    )

    for module in (account, dashboard, requirements, perimeters, readiness, findings, sovereignty, controls, evidence,
                   dossiers, admin, inbox):
        app.register_blueprint(module.bp)
    from evidence.web import campaigns  # a perimeter's evaluation campaigns

    app.register_blueprint(campaigns.bp)
    from evidence.web import bulk  # the list pages' bulk actions

    app.register_blueprint(bulk.bp)
    from evidence.web import pickers  # the searches behind every picker (JSON, for picker.js)

    app.register_blueprint(pickers.bp)
    from evidence.web import oscal  # a perimeter's OSCAL documents

    app.register_blueprint(oscal.bp)
    from evidence.web import requests as evidence_requests  # evidence requests ("demandes de pièces")

    app.register_blueprint(evidence_requests.bp)
    from evidence.web import api_tokens  # the administrator's page of REST API tokens

    app.register_blueprint(api_tokens.bp)
    from evidence.web import second_factor  # the login's second step and the account's second factors

    app.register_blueprint(second_factor.bp)
    from evidence.web import security_keys  # security keys (WebAuthn): JSON endpoints for webauthn.js

    app.register_blueprint(security_keys.bp)
    from evidence.web import comments  # comment threads on items, controls, evidence versions, requests, findings

    app.register_blueprint(comments.bp)
    from evidence.web import single_sign_on  # /login/sso…, only when OIDC_ISSUER and OIDC_CLIENT_ID are set

    single_sign_on.init_app(app)

    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    app.session_interface = TlsAwareSessionInterface()

    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Connectez-vous pour accéder à cette page.")
    login_manager.user_loader(lambda session_id: auth.load_user(db.get_session(), session_id))

    app.before_request(refuse_nul_bytes)
    app.before_request(bind_session_to_browser)
    app.before_request(end_expired_session)
    app.before_request(enforce_access)
    app.after_request(security_headers)
    app.context_processor(template_globals)
    register_error_handlers(app)
    # The static view is the one route Flask adds itself; its files are public by nature.
    public(app.view_functions["static"])


def refuse_nul_bytes():
    """A NUL byte has no business in an address or a form, and PostgreSQL rejects it in text: refuse at the door."""
    values = [request.path, *request.args.values(), *(request.form.values() if request.method == "POST" else ())]
    if any("\x00" in value for value in values):
        abort(400)


def browser_fingerprint() -> str:
    return hashlib.sha256(request.headers.get("User-Agent", "").encode()).hexdigest()[:32]


def start_session(user) -> None:
    """Log `user` in on a fresh session at login: bound to this browser, and timed from now (see
    end_expired_session; a password change logs in again under the new token but keeps the login's time)."""
    session.permanent = True
    session["browser"] = browser_fingerprint()
    session["login_at"] = session["seen_at"] = int(time.time())
    login_user(user)


def end_expired_session():
    """A session ends SESSION_LIFETIME_MINUTES after its login however busy (a stolen cookie does not live for
    ever) and after SESSION_IDLE_MINUTES unused. Judged here, on the session's own signed timestamps: the cookie's
    expiry is the browser's to honour, and a copied cookie has none."""
    if "_user_id" not in session or request.endpoint == "static":
        return None
    now = int(time.time())
    config = current_app.config
    login_at, seen_at = session.get("login_at"), session.get("seen_at")
    if (isinstance(login_at, int) and isinstance(seen_at, int)
            and now - login_at < config["SESSION_LIFETIME_MINUTES"] * 60
            and now - seen_at < config["SESSION_IDLE_MINUTES"] * 60):
        session["seen_at"] = now
        return None
    locale = session.get("locale")
    logout_user()
    session.clear()
    if locale in LOCALES:
        session["locale"] = locale
    flash(_l("Votre session a expiré : reconnectez-vous."), "info")
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "access_rule", None) == PUBLIC:
        return None  # the login page itself, a link's page: shown, with the message
    if request.method in READ_METHODS:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.login"))  # what was posted is lost: the form is filled in again after login


# What someone who must replace his password may still open: the page that replaces it, and the way out.
WHILE_CHANGING_PASSWORD = frozenset({"auth.change_password", "auth.logout"})  # public views need no exception
# What someone whose role must have a second factor (MFA_REQUIRED_ROLES) and has none may open: enrolment and the
# way out. A module with more enrolment views (security keys) adds their endpoints to this set.
WHILE_ENROLLING = {"auth.logout", "second_factor.index", "second_factor.enrol_totp"}


def bind_session_to_browser():
    """A session cookie replayed from another browser is dropped. Flask-Login's "strong" protection does not
    act on permanent sessions (it only marks them not fresh), so the check is made here."""
    if "_user_id" in session and session.get("browser") != browser_fingerprint():
        logout_user()
        session.clear()


class Outcome:
    ok = True


def say(message) -> str:
    """A refusal or a message in the reader's language."""
    return messages.render(message, select_locale())


@contextmanager
def reported_errors(form=None):
    """Run a service call for a view: a refusal (EvidenceError) rolls the transaction back and becomes a message
    beside the form field it names (when the view shows `form` again) or at the top of the page, and
    `outcome.ok` tells the view whether to go on."""
    outcome = Outcome()
    try:
        yield outcome
    except EvidenceError as error:
        db.get_session().rollback()
        outcome.ok = False
        field = form[error.field] if form is not None and error.field and error.field in form else None
        if field is not None:
            field.errors = [*field.errors, say(error)]
            flash(_l("Le formulaire contient des erreurs : elles sont indiquées à côté des champs."), "error")
        else:
            flash(say(error), "error")


def current_scope():
    """The perimeters the logged-in user reaches today (evidence.services.reach), asked once per request."""
    from evidence.services import reach
    from evidence.web.clock import request_today

    if "scope" not in g:
        g.scope = reach.scope_of(db.get_session(), current_user, request_today())
    return g.scope


def current_role():
    return current_user.role if current_user.is_authenticated else None


def perimeter_or_404(code: str):
    """The perimeter in the address; 404 when there is none or the user's grants do not reach it (not revealed)."""
    from evidence.services.perimeters import get_perimeter

    try:
        perimeter = get_perimeter(db.get_session(), code)
    except EvidenceError:
        abort(404)
    if not current_scope().reaches([perimeter.id]):
        abort(404)
    return perimeter


def evidence_or_404(ref: str):
    """The evidence in the address; 404 when there is none or it is beyond the user's reach (another perimeter;
    for an evaluator, evidence never approved)."""
    from evidence.services import reach
    from evidence.services.evidence import get_evidence

    session = db.get_session()
    try:
        evidence = get_evidence(session, ref)
    except EvidenceError:
        abort(404)
    if not reach.reaches_evidence(session, current_scope(), current_role(), evidence):
        abort(404)
    return evidence


def control_or_404(ref: str):
    """The control in the address; 404 when there is none or it is deployed in no perimeter the user reaches."""
    from evidence.services import reach
    from evidence.services.controls import get_control

    session = db.get_session()
    try:
        control = get_control(session, ref)
    except EvidenceError:
        abort(404)
    if not reach.reaches_control(session, current_scope(), control):
        abort(404)
    return control


def item_or_404(perimeter, ref: str):
    """An item of the perimeter's referential, by its ref in the address."""
    from evidence.services.perimeters import get_item

    try:
        return get_item(db.get_session(), perimeter, ref)
    except EvidenceError:
        abort(404)


def enforce_access():
    """Deny by default: a view without a declared rule answers 403 to everyone."""
    if request.endpoint is None:
        return None  # 404/405: the error handler answers
    if request.path.startswith("/api/"):
        return None  # the API judges its views' rules against the bearer token's role (evidence.api.auth)
    rule = getattr(current_app.view_functions[request.endpoint], "access_rule", None)
    if rule == PUBLIC:
        return None
    if rule is None:
        current_app.logger.error("route %s declares no access rule: refused", request.endpoint)
        abort(403)
    if not current_user.is_authenticated:
        if request.method in READ_METHODS:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    if current_user.must_change_password and request.endpoint not in WHILE_CHANGING_PASSWORD:
        # A password someone else set (an admin, the command line) is known to him: nothing else until replaced.
        return redirect(url_for("auth.change_password"))
    if (refused := second_factor_policy()) is not None:
        return refused
    if not rule.allows(current_user.role, request.method):
        abort(403)
    return None


def second_factor_policy():
    """MFA_REQUIRED_ROLES, for a session logged in through the browser (an API token's request carries no such
    session): a session logged in without a second factor may open nothing but enrolment while the account has
    none, and logs in again, giving it, once the account has one. Asked of the database only for such sessions."""
    from evidence.core.rules import second_factor as rule
    from evidence.services.second_factors import has_second_factor

    required = rule.required(current_user.role, current_app.config["MFA_REQUIRED_ROLES"],
                             service_account=getattr(current_user, "service_account", False))
    if "_user_id" not in session or session.get("second_factor") in rule.METHODS or not required:
        return None
    state = rule.session_state(True, has_second_factor(db.get_session(), current_user), session.get("second_factor"))
    g.must_enrol = state == rule.ENROL  # the enrolment pages then draw no navigation: every area would lead back
    if state == rule.ENROL and request.endpoint not in WHILE_ENROLLING:
        message = _l("Votre rôle demande un second facteur : enregistrez-en un pour continuer.")
        if not any(str(shown) == str(message) for _category, shown in session.get("_flashes", ())):
            flash(message, "info")  # once, however many pages were tried before enrolling
        return redirect(url_for("second_factor.index"))
    if state == rule.LOG_IN_AGAIN and request.endpoint != "auth.logout":
        locale = session.get("locale")
        logout_user()
        session.clear()
        if locale in LOCALES:
            session["locale"] = locale
        flash(_l("Votre compte a désormais un second facteur : reconnectez-vous en le donnant."), "info")
        return redirect(url_for("auth.login"))
    return None


def security_headers(response):
    headers = response.headers
    # Single sign-on widens form-action to its provider (the logout's answer leads there): web.single_sign_on.
    headers.setdefault("Content-Security-Policy", current_app.extensions.get("evidence.csp", CSP))
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")
    return response


def select_locale() -> str:
    if not has_request_context():
        return current_app.config["DEFAULT_LOCALE"]  # command line, jobs: the dossier's language
    if request.path.startswith("/api/"):  # no session there: the caller names his language in Accept-Language
        return request.accept_languages.best_match(LOCALES, default=current_app.config["DEFAULT_LOCALE"])
    chosen = session.get("locale")
    if chosen in LOCALES:
        return chosen
    # An error page that must not need the database (internal_error) does not read the account either: after a
    # failed commit its row is expired and its session closed.
    if not g.get("without_user") and current_user and current_user.is_authenticated \
            and current_user.locale in LOCALES:
        return current_user.locale
    return current_app.config["DEFAULT_LOCALE"]


def template_globals() -> dict:
    locale = select_locale()
    words = {
        "localized": lambda obj, name="title": labels.localised(obj, name, locale),
        "entry_text": lambda entry: labels.entry_text(entry, locale),
        "gap_sentences": lambda status, requirement: labels.gap_sentences(status, requirement, locale),
        "check_problem": sovereignty_words.problem,  # a failed sovereignty check's problem, in the reader's words
        "basis_text": labels.basis,
        # An evidence's status as the reader sees it (rules.evaluation: to an evaluator, approved).
        "status_shown": lambda status: evaluation.status_shown(current_role() or "", status),
    }
    if g.get("without_user"):
        return {"navigation": [], "locales": LOCALES, "current_locale": locale, "show_user": False, **words}
    nav = []
    for endpoint, label in () if g.get("must_enrol") else NAVIGATION:
        rule = current_app.view_functions[endpoint].access_rule
        if not (current_user.is_authenticated and rule.allows(current_user.role, "GET")):
            continue  # an area this role may not open is not offered
        nav.append({"endpoint": endpoint, "label": label, "current": False})
    # The page's own entry is current; failing that, the entry of its area (blueprint).
    exact = [item for item in nav if item["endpoint"] == request.endpoint]
    area = [item for item in nav if request.blueprint and item["endpoint"].split(".")[0] == request.blueprint]
    for item in (exact or area[:1]):
        item["current"] = True
    return {"navigation": nav, "locales": LOCALES, "current_locale": locale, "show_user": True, **words}


ERROR_TITLES = {
    400: _l("Requête invalide"),
    401: _l("Authentification requise"),
    403: _l("Accès refusé"),
    404: _l("Page introuvable"),
    405: _l("Méthode non autorisée"),
    413: _l("Fichier trop volumineux"),
    409: _l("Modifié en même temps"),
    429: _l("Trop de tentatives"),
    500: _l("Erreur interne"),
}
ERROR_TEXTS = {
    400: _l("La requête n'a pas pu être traitée. Rechargez la page et réessayez."),
    401: _l("Connectez-vous pour continuer."),
    403: _l("Votre rôle ne permet pas cette action."),
    404: _l("Cette adresse ne correspond à aucune page."),
    405: _l("Cette action n'est pas possible à cette adresse."),
    413: _l("Le fichier dépasse la taille maximale autorisée, %(limit)s par envoi. Réduisez-le (ou découpez-le) et "
            "choisissez-le de nouveau."),
    429: _l("Trop d'échecs de connexion. Patientez quelques minutes avant de réessayer."),
    500: _l("Une erreur inattendue s'est produite. Elle a été journalisée."),
}


def render_error(code: int, detail: str | None = None):
    text = detail or ERROR_TEXTS[code]
    if code == 413 and detail is None:  # the limit, in the reader's units (EVIDENCE_MAX_CONTENT_LENGTH)
        text = text % {"limit": typography.file_size(current_app.config["MAX_CONTENT_LENGTH"], select_locale())}
    return render_template("web/error.html", code=code, title=ERROR_TITLES[code], text=text), code


def register_error_handlers(app: Flask) -> None:
    def http_error(error: HTTPException):
        code = error.code if error.code in ERROR_TITLES else 500
        return render_error(code)

    def csrf_error(error: CSRFError):
        return render_error(400, _l("Le formulaire a expiré ou n'est pas authentique. Rechargez la page et réessayez."))

    def internal_error(error):
        db.close_session()
        # The page must not need the database (it may be what failed): no user, no navigation.
        g.without_user = True
        return render_error(500)

    def concurrent_write(error: StaleDataError):
        # Two people saved the same object at the same moment: the other one's save stands, this one's transaction
        # is rolled back whole. Its rows (the account's among them) are gone with it, hence a page without them.
        db.close_session()
        g.without_user = True
        return render_error(409, ConflictError().render(gettext))

    app.register_error_handler(HTTPException, http_error)
    # Service functions refuse what a role may not do (e.g. a contributor editing another's control).
    app.register_error_handler(PermissionError, lambda error: render_error(403))
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(StaleDataError, concurrent_write)  # optimistic locking (data.models.Versioned)
    app.register_error_handler(500, internal_error)
