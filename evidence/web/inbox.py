"""The inbox: the reader's notifications (stored when they happened) and tasks (computed now), marked read by POST."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from evidence import context as db
from evidence.core.access import access
from evidence.core.vocabulary import ALL_ROLES
from evidence.presentation import inbox_words
from evidence.services import notifications
from evidence.web import select_locale
from evidence.web.clock import request_today
from evidence.web.forms import EmptyForm

bp = Blueprint("inbox", __name__, url_prefix="/inbox")


def target(item) -> str | None:
    """The page of what the notification or task is about; None when it has none (an action of no perimeter)."""
    if item.object_type == "evidence":
        return url_for("evidence.show", ref=item.object_id)
    if item.object_type == "finding" and item.perimeter:
        return url_for("findings.findings", code=item.perimeter) + f"#finding-{int(item.object_id)}"
    if item.object_type == "request" and item.perimeter:  # an evidence request (web.requests)
        return url_for("requests.show", code=item.perimeter, request_id=int(item.object_id))
    if item.object_type == "comment" and item.perimeter:  # a mention: the comment in its subject's page
        return url_for("comments.show", code=item.perimeter, comment_id=int(item.object_id))
    if item.object_type == "action" and item.perimeter:
        return url_for("findings.action", code=item.perimeter, action_id=int(item.object_id))
    return None


@bp.app_context_processor
def inbox_globals() -> dict:
    """The top bar's count (unread notifications and waiting tasks), computed only when a page shows it."""

    def count() -> int:
        if g.get("without_user") or not current_user.is_authenticated:
            return 0
        if "inbox_count" not in g:
            session = db.get_session()
            g.inbox_count = (notifications.unread_count(session, current_user)
                             + len(notifications.tasks(session, current_user, request_today())))
        return g.inbox_count

    return {"inbox_count": count}


@bp.route("/")
@access(*ALL_ROLES)
def index():
    session = db.get_session()
    today = request_today()
    box = notifications.inbox(session, current_user, today)
    locale = select_locale()
    return render_template(
        "web/inbox/index.html", inbox=box, form=EmptyForm(), target=target,
        sentence=lambda item: inbox_words.sentence(item, locale, today),
        kind=lambda item: inbox_words.kind(item, locale), shown=notifications.SHOWN,
    )


@bp.route("/<int:notification_id>/read", methods=["POST"])
@access(*ALL_ROLES)
def read(notification_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not notifications.mark_read(db.get_session(), current_user, notification_id):
        abort(404)  # someone else's notification is none of the reader's business, not even its existence
    if request.form.get("open") == "1":
        item = notifications.find(db.get_session(), current_user, notification_id)
        if item is not None and (address := target(item)):
            return redirect(address)
    return redirect(url_for("inbox.index"))


@bp.route("/read-all", methods=["POST"])
@access(*ALL_ROLES)
def read_all():
    if not EmptyForm().validate_on_submit():
        abort(400)
    count = notifications.mark_all_read(db.get_session(), current_user)
    flash(ngettext("%(num)d notification marquée comme lue.", "%(num)d notifications marquées comme lues.", count)
          if count else _("Aucune notification non lue."), "info")
    return redirect(url_for("inbox.index"))
