"""Two people saving the same evidence at the same moment (found by bench/load.py on PostgreSQL): the database keeps
the first save, and the second is refused in words, on the web and in the API, with nothing of it written (it
was a 500). Optimistic locking (data.models.Versioned) is what refuses it; the crossing save is made here by a
second session committing while the request is between reading the evidence and writing it."""
import io
import re

import pytest
from sqlmodel import Session, func, select

from evidence.core import rules
from evidence.data import database as db
from evidence.data.models import Evidence, EvidenceVersion

from .api_support import bearer, make_token
from .conftest import csrf_token, login

MANAGER = "claire.fontaine@nuage-souverain.example"


@pytest.fixture
def crossing(demo_loaded, database_url, monkeypatch):
    """The demo, and an evidence that someone else renames while a request adds a version to it."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer at a time: the second waits for the first and reads what it wrote")
    app = demo_loaded
    with app.app_context(), db.session_scope(app) as session:
        evidence = session.exec(select(Evidence).join(EvidenceVersion, EvidenceVersion.evidence_id == Evidence.id)
                                .where(EvidenceVersion.storage_key.is_not(None)).order_by(Evidence.ref)).first()
        ref, evidence_id = evidence.ref, evidence.id
    original = rules.status_after_new_version

    def renamed_meanwhile(*args):
        # After the request read the evidence, before it writes it (it then holds the row: the other would wait).
        with Session(db.get_engine(app)) as other:
            row = other.get(Evidence, evidence_id)
            row.title = "Renommée par une autre personne"
            other.commit()
        return original(*args)

    monkeypatch.setattr(rules, "status_after_new_version", renamed_meanwhile)
    return app, ref, evidence_id


def versions(app, evidence_id: int) -> int:
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(func.count()).select_from(EvidenceVersion)
                            .where(EvidenceVersion.evidence_id == evidence_id)).one()


def title(app, evidence_id: int) -> str:
    with app.app_context(), db.session_scope(app) as session:
        return session.get(Evidence, evidence_id).title


def test_on_the_web_the_second_save_is_refused_in_words(crossing):
    app, ref, evidence_id = crossing
    client = app.test_client()
    login(client, MANAGER)
    before = versions(app, evidence_id)
    response = client.post(f"/evidence/{ref}/versions", data={
        "csrf_token": csrf_token(client, f"/evidence/{ref}"), "note": "export du mois",
        "file": (io.BytesIO(b"export du mois, nouvelle version\n" * 40), "export.txt")},
        content_type="multipart/form-data")
    page = re.sub(r"\s+", " ", response.get_data(as_text=True))
    assert response.status_code == 409
    assert "Quelqu’un d’autre a enregistré la même chose au même moment" in page
    assert versions(app, evidence_id) == before  # nothing of the refused save
    assert title(app, evidence_id) == "Renommée par une autre personne"  # the other one's stands
    assert client.get(f"/evidence/{ref}").status_code == 200  # and the reader goes on, still signed in


def test_in_the_api_the_second_save_is_a_stale_version(crossing):
    app, ref, evidence_id = crossing
    secret = make_token(app, "pipeline", "manager")
    before = versions(app, evidence_id)
    response = app.test_client().post(f"/api/v1/evidence/{ref}/versions", data=b"%PDF-1.4\n% export\n" + b"z" * 900,
                                      headers=bearer(secret, "en", **{"Content-Type": "application/pdf"}))
    assert response.status_code == 412, response.get_data(as_text=True)
    assert response.json["type"] == "urn:evidence:problem:stale-version"
    assert "Someone else" in response.json["detail"]
    assert versions(app, evidence_id) == before


@pytest.mark.sqlite_only  # words, no SQL
def test_on_the_command_line_the_second_save_is_refused_in_words(app):
    """Every command goes through cli.common.friendly_errors: the same refusal, one line, exit status 1."""
    import click
    from sqlalchemy.orm.exc import StaleDataError

    from evidence.cli.common import friendly_errors

    @friendly_errors
    def crossed():
        raise StaleDataError("UPDATE statement on table 'evidence' expected to update 1 row(s); 0 were matched.")

    with app.app_context(), pytest.raises(click.ClickException) as refused:
        crossed()
    # In the command line's language (its environment's locale): one of the two.
    assert refused.value.message.startswith(("Quelqu’un d’autre a enregistré la même chose au même moment",
                                             "Someone else saved the same thing at the same moment"))
