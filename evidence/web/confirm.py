"""Asking before a destructive action (delete, retire, unlink, disable, reject…): one mechanism for every one.

A view calls `ask(...)` before the service call. A POST that does not carry `confirmed=1` changes nothing and gets
a page that says what will happen, with a button that posts the same fields again with `confirmed=1` (and a fresh
CSRF token), and a way back. With JavaScript, static/js/confirm.js reads the `data-confirm` text of the form or
of the button that was pressed, opens a dialog with it and, on « Confirmer », sends the form with `confirmed=1`:
no extra page. Without JavaScript everything works the same way, one page later.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import render_template, request

CONFIRMED = "confirmed"  # the field a confirmed request carries (confirm.html and confirm.js both add it)
_NOT_RESENT = ("csrf_token", CONFIRMED)  # the page renders a fresh token


def is_confirmed() -> bool:
    return request.method == "POST" and request.form.get(CONFIRMED) == "1"


def ask(question: str, *, back: str, consequence: str | None = None, action: str | None = None):
    """None when the request is confirmed: the view goes on. Otherwise the confirmation page, which the view
    returns as it is (nothing changed).

    `question` says what will happen ("Supprimer le sous-traitant « X » ?"), `consequence` what follows from it,
    `action` the confirming button's words (default « Confirmer »), `back` where « Annuler » leads (the page the
    button was on, when the browser says so and it is this site's)."""
    if is_confirmed():
        return None
    fields = [(name, value) for name, value in request.form.items(multi=True) if name not in _NOT_RESENT]
    return render_template("web/confirm.html", question=question, consequence=consequence, action_label=action,
                           target=request.full_path.rstrip("?"), fields=fields, back=_same_site(request.referrer, back))


def _same_site(referrer: str | None, default: str) -> str:
    """The page the request came from, as a path on this site; never another site's address."""
    if referrer:
        parts = urlsplit(referrer)
        if parts.netloc == request.host and parts.path.startswith("/") and not parts.path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return default
