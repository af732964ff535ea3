"""Every form carries a CSRF token and a POST without a valid one changes nothing."""
import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import User

from .conftest import PASSWORD, csrf_token

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only


def test_login_without_token_is_refused(client, users):
    response = client.post("/login", data={"email": "admin@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "formulaire a expiré" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_forged_user_creation_is_refused(app, client, users, login_as):
    login_as("admin")
    for token in (None, "forged", csrf_token(app.test_client(), "/login")):  # missing, invented, someone else's
        data = {"email": "mallory@example.org", "name": "Mallory", "role": "admin"}
        if token:
            data["csrf_token"] = token
        assert client.post("/admin/users", data=data).status_code == 400
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(User).where(User.email == "mallory@example.org")).first() is None


def test_logout_without_token_keeps_the_session(client, users, login_as):
    login_as("manager")
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


def test_every_rendered_form_has_a_token(app, client, users, login_as):
    import re

    login_as("admin")
    for path in ("/", "/admin/users", "/admin/audit"):
        page = client.get(path).get_data(as_text=True)
        for form in re.findall(r"<form\b[^>]*>.*?</form>", page, flags=re.S):
            if re.search(r'method="post"', form, flags=re.I):
                assert 'name="csrf_token"' in form, (path, form[:120])
