"""The dashboard and the health check."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import func
from sqlmodel import select

from .. import auth, db
from ..models import Control, Evidence, Perimeter, Requirement, User

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@auth.access(*auth.ALL_ROLES)
def index():
    session = db.get_session()
    counts = {
        model.__tablename__: session.exec(select(func.count()).select_from(model)).one()
        for model in (Requirement, Perimeter, Control, Evidence, User)
    }
    return render_template("web/dashboard.html", counts=counts)


@bp.route("/healthz")
@auth.public
def healthz():
    ok = db.database_reachable(db.get_engine())
    body = {"status": "ok" if ok else "error", "database": "ok" if ok else "unreachable"}
    return jsonify(body), 200 if ok else 503
