"""What the API tests share: tokens, their headers, and a fingerprint of everything a write would change."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, text
from sqlmodel import SQLModel, select

from evidence.data import database as db
from evidence.services import api_tokens


def make_token(app, name: str, role: str | None = None, **options) -> str:
    """A token's secret (a service account's with `role`, a person's with user_email=…)."""
    with app.app_context(), db.session_scope(app) as session:
        return api_tokens.create_token(session, "cli:test", name, role, **options).secret


def bearer(secret: str, language: str = "fr", **headers) -> dict:
    return {"Authorization": f"Bearer {secret}", "Accept-Language": language, **headers}


def fingerprint(app) -> dict:
    """Row counts of every table (api_token's last_used_at aside, a use is no write), the audit head, and the stored
    files: a refused call must leave all of it as it was."""
    with app.app_context(), db.session_scope(app) as session:
        counts = {table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
                  for table in SQLModel.metadata.sorted_tables if table.name != "readiness_snapshot"}
        counts["audit head"] = session.execute(text("SELECT seq, hash FROM audit_head")).all()
        counts["evidence rows"] = session.execute(text("SELECT ref, status, version FROM evidence ORDER BY ref")).all()
    blobs = Path(app.instance_path, "blobs")
    counts["blobs"] = sorted(str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else []
    return counts
