"""Validation frictions: empty files, link schemes, the new user's role, who may own, the order of names, the
language kept on the account, the file to choose again after a refusal, the 413 page's limit, and nobody disabling
or demoting themselves."""
import io
import re

import pytest
from sqlmodel import select

from evidence import importer
from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data.models import AuditEvent, Control, Evidence, EvidenceVersion, User
from evidence.services import controls, findings
from evidence.services import evidence as evidence_items
from evidence.services import users as auth
from evidence.settings import SETTINGS, SettingError

from .conftest import PASSWORD, csrf_token, login, make_app
from .evidence_forms import new_evidence as post_new_evidence
from .evidence_forms import perimeter  # noqa: F401  (fixture)

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only


def new_evidence(client, perimeter, **fields):
    """The form with an item named (12.4.a), as these checks expect."""
    return post_new_evidence(client, perimeter, **{"requirements": "12.4.a", **fields})


def stored(app):
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(select(Evidence)).all(), session.exec(select(EvidenceVersion)).all()


# --- empty files ---------------------------------------------------------------------------------------------


def test_an_empty_file_is_refused_as_evidence_and_named(catalogue_loaded, client, login_as, perimeter):
    login_as("contributor")
    page = new_evidence(client, perimeter, file=(io.BytesIO(b""), "export-vide.csv")).get_data(as_text=True)
    assert "« export-vide.csv » est vide (0 octet)" in page
    assert stored(catalogue_loaded) == ([], [])
    assert new_evidence(client, perimeter, file=(io.BytesIO(b"ok"), "plein.csv")).status_code == 302
    token = csrf_token(client, "/evidence/EV-0001")
    page = client.post("/evidence/EV-0001/versions", data={"csrf_token": token, "file": (io.BytesIO(b""), "v2.pdf")},
                       content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "« v2.pdf » est vide (0 octet)" in page
    assert len(stored(catalogue_loaded)[1]) == 1  # no second version


def test_an_empty_file_in_a_manifest_is_refused_before_anything_is_stored(catalogue_loaded, users, tmp_path, perimeter):
    folder = tmp_path / "proofs"
    folder.mkdir()
    (folder / "vide.txt").write_bytes(b"")
    (folder / "plein.txt").write_bytes(b"rapport")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file;title;requirements;perimeters\nvide.txt;Vide;12.4.a;iaas-fr1\n"
                        "plein.txt;Plein;12.4.a;iaas-fr1\n", encoding="utf-8")
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        actor = session.get(User, users["manager"].id)
        from evidence.data import storage
        result = importer.run_import(session, storage.get_store(app), actor, manifest, folder, origin="cli:test")
    errors = [str(e) for outcome in result.outcomes for e in outcome.errors]
    assert any("vide.txt" in e and "vide (0 octet)" in e for e in errors), errors
    titles = [e.title for e in stored(app)[0]]
    assert titles == ["Plein"]


# --- link schemes -------------------------------------------------------------------------------------------


def test_a_link_must_be_https_unless_the_instance_allows_more(catalogue_loaded, client, login_as, perimeter, users):
    login_as("contributor")
    page = new_evidence(client, perimeter, kind="link", url="http://intranet/doc").get_data(as_text=True)
    assert "seules les adresses https:// sont admises" in page
    assert stored(catalogue_loaded) == ([], [])
    assert new_evidence(client, perimeter, kind="link", url="https://intranet.example/doc").status_code == 302
    # The setting adds schemes, for every door: the service (web form, importer) takes the app's.
    catalogue_loaded.config["LINK_SCHEMES"] = ("https", "http")
    assert new_evidence(client, perimeter, kind="link", url="http://intranet/doc").status_code == 302
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        actor = session.get(User, users["contributor"].id)
        with pytest.raises(EvidenceError, match="https://"):
            evidence_items.add_version(session, actor, session.exec(select(Evidence)).first(), url="ftp://files/x")


def test_the_link_schemes_setting_is_read_and_checked(tmp_path, monkeypatch):
    setting = next(s for s in SETTINGS if s.name == "LINK_SCHEMES")
    assert setting.default == ("https",)
    assert setting.parse("https, HTTP://") == ("https", "http")
    assert setting.check(["https", "sftp"], "LINK_SCHEMES") == ("https", "sftp")
    with pytest.raises(SettingError, match="EVIDENCE_LINK_SCHEMES"):
        setting.parse("https, 1http")
    monkeypatch.setenv("EVIDENCE_LINK_SCHEMES", "https,http")
    app = make_app(tmp_path / "instance", f"sqlite:///{tmp_path}/e.db")
    assert app.config["LINK_SCHEMES"] == ("https", "http")


def test_the_importer_refuses_a_plain_http_link(catalogue_loaded, users, tmp_path, perimeter):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("url;title;requirements;perimeters\nhttp://intranet/doc;Lien;12.4.a;iaas-fr1\n", encoding="utf-8")
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        from evidence.data import storage
        actor = session.get(User, users["manager"].id)
        result = importer.run_import(session, storage.get_store(app), actor, manifest, tmp_path, origin="cli:test")
        errors = [str(e) for outcome in result.outcomes for e in outcome.errors]
        assert any("https://" in e for e in errors), errors
        result = importer.run_import(session, storage.get_store(app), actor, manifest, tmp_path, origin="cli:test",
                                     link_schemes=("https", "http"))
    assert [e.title for e in stored(app)[0]] == ["Lien"]


# --- users: the new user's role, owners, names in order ------------------------------------------------------


def test_the_new_user_form_defaults_to_contributor(app, client, users, login_as):
    login_as("admin")
    page = client.get("/admin/users").get_data(as_text=True)
    new_user_form = page[page.index('action="/admin/users"'):]
    assert re.search(r'<option selected value="contributor">|<option value="contributor" selected>', new_user_form)
    assert not re.search(r'<option selected value="admin">|<option value="admin" selected>', new_user_form)


def test_an_auditor_owns_nothing(catalogue_loaded, users, perimeter):
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        manager, auditor = session.get(User, users["manager"].id), session.get(User, users["auditor"].id)
        with pytest.raises(EvidenceError, match="ne peut pas être responsable") as refused:
            controls.create_control(session, manager, controls.ControlData(ref="CTL-X-01", title="X",
                                                                           owner_id=auditor.id))
        assert refused.value.field == "owner"
        session.rollback()
        with pytest.raises(EvidenceError, match="ne peut pas être responsable"):
            evidence_items.create_evidence(session, manager, evidence_items.EvidenceData(
                title="Rapport", owner_id=auditor.id, perimeter_ids=[perimeter]), url="https://intranet.example/r")
        session.rollback()
        from evidence.data.models import Perimeter
        with pytest.raises(EvidenceError, match="ne peut pas être responsable"):
            findings.save_action(session, manager, session.get(Perimeter, perimeter),
                                 findings.ActionData(title="Corriger", owner_id=auditor.id))
        session.rollback()
        # An owner who became an auditor since does not block editing the rest; naming one anew is refused.
        control = controls.create_control(session, manager, controls.ControlData(ref="CTL-X-02", title="X",
                                                                                 owner_id=manager.id))
        auth.set_role(session, None, manager, "auditor")
        admin = session.get(User, users["admin"].id)
        controls.update_control(session, admin, control, controls.ControlData(
            ref="CTL-X-02", title="Renamed", owner_id=manager.id), control.version)
        assert session.get(Control, control.id).title == "Renamed"
        assert auditor not in auth.possible_owners(session)
        assert manager in auth.possible_owners(session, keep_id=manager.id)


def test_owner_lists_offer_no_auditor_and_sort_names_as_a_french_reader(catalogue_loaded, client, users, login_as):
    app = catalogue_loaded
    with app.app_context(), db.session_scope(app) as session:
        for name in ("Zoé Martin", "Élodie Bernard", "Eric Durand", "Fabrice Roy"):
            auth.create_user(session, None, f"{name.split()[0].lower()}@example.org", name, "contributor", PASSWORD)
        auth.create_user(session, None, "auditrice@example.org", "Alice Auditrice", "auditor", PASSWORD)
    login_as("manager")
    page = client.get("/controls/new").get_data(as_text=True)
    owners = page[page.index('name="owner"'):]
    owners = owners[:owners.index("</select>")] if "</select>" in owners else owners
    names = [n for n in ("Élodie Bernard", "Eric Durand", "Fabrice Roy", "Zoé Martin") if n in owners]
    assert names == ["Élodie Bernard", "Eric Durand", "Fabrice Roy", "Zoé Martin"]
    assert owners.index("Élodie Bernard") < owners.index("Eric Durand") < owners.index("Fabrice Roy") < owners.index("Zoé Martin")
    assert "Alice Auditrice" not in owners
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, users["admin"].email)
    page = client.get("/admin/users").get_data(as_text=True)
    assert page.index("Élodie Bernard") < page.index("Eric Durand") < page.index("Fabrice Roy") < page.index("Zoé Martin")


# --- the language, kept on the account ------------------------------------------------------------------------


def lang(page: str) -> str:
    return re.search(r'<html lang="(\w+)"', page).group(1)


def test_the_language_choice_is_kept_on_the_account(app, client, users, login_as):
    login_as("manager")
    client.post("/locale/en", data={"csrf_token": csrf_token(client, "/"), "next": "/"})
    assert lang(client.get("/").get_data(as_text=True)) == "en"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert lang(client.get("/login").get_data(as_text=True)) == "fr"  # nobody known yet: the default
    login(client, users["manager"].email)
    assert lang(client.get("/").get_data(as_text=True)) == "en"
    with app.app_context(), db.session_scope(app) as session:
        assert session.get(User, users["manager"].id).locale == "en"
    other = app.test_client()  # another browser
    login(other, users["manager"].email)
    assert lang(other.get("/").get_data(as_text=True)) == "en"


def test_a_language_picked_on_the_login_page_becomes_the_accounts(app, client, users):
    client.post("/locale/en", data={"csrf_token": csrf_token(client, "/login"), "next": "/login"})
    login(client, users["contributor"].email)
    with app.app_context(), db.session_scope(app) as session:
        assert session.get(User, users["contributor"].id).locale == "en"


# --- the form after a refusal, the 413 page -------------------------------------------------------------------


def test_after_a_refusal_the_form_says_the_file_must_be_chosen_again(catalogue_loaded, client, login_as, perimeter):
    login_as("contributor")
    response = new_evidence(client, perimeter, requirements="99.9.z", file=(io.BytesIO(b"rapport"), "rapport-edr.pdf"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "« rapport-edr.pdf » n’a pas été enregistré : choisissez ce fichier de nouveau" in page
    assert 'value="Rapport EDR"' in page  # the other values are kept
    page = client.get("/evidence/new").get_data(as_text=True)
    assert "choisissez ce fichier de nouveau" not in page


@pytest.mark.parametrize("locale, limit", [("fr", "50 ko"), ("en", "50 kB")])
def test_the_413_page_states_the_limit(app, client, users, login_as, locale, limit):
    login_as("contributor")
    client.post(f"/locale/{locale}", data={"csrf_token": csrf_token(client, "/"), "next": "/"})
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    response = client.post("/evidence/new", data={"file": (io.BytesIO(b"x" * 60_000), "big.bin")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert limit in response.get_data(as_text=True).replace("\u00a0", " ").replace("\u202f", " ")


# --- nobody disables or demotes themselves --------------------------------------------------------------------


def test_nobody_disables_or_demotes_themselves(app, client, users, login_as):
    with app.app_context(), db.session_scope(app) as session:
        admin = session.get(User, users["admin"].id)
        auth.create_user(session, None, "second-admin@example.org", "Second", "admin", PASSWORD)  # not the last one
        with pytest.raises(EvidenceError, match="propre compte"):
            auth.set_active(session, admin, admin, False)
        with pytest.raises(EvidenceError, match="propre rôle"):
            auth.set_role(session, admin, admin, "manager")
        auth.set_role(session, None, auth.get_user(session, "second-admin@example.org"), "manager")  # the CLI may
    login_as("admin")
    page = client.get("/admin/users").get_data(as_text=True)
    assert f'/admin/users/{users["admin"].id}/active' not in page  # not offered
    assert f'/admin/users/{users["admin"].id}/role' not in page
    assert f'/admin/users/{users["manager"].id}/active' in page
    token = csrf_token(client, "/admin/users")
    page = client.post(f'/admin/users/{users["admin"].id}/active', data={"csrf_token": token, "confirmed": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "vous ne pouvez pas désactiver votre propre compte" in page
    client.post(f'/admin/users/{users["admin"].id}/role', data={"csrf_token": token, "role": "auditor",
                                                                "confirmed": "1"})
    assert client.get("/admin/users").status_code == 200  # still logged in, still an admin
    with app.app_context(), db.session_scope(app) as session:
        admin = session.get(User, users["admin"].id)
        assert admin.active and admin.role == "admin"
        assert not session.exec(select(AuditEvent).where(AuditEvent.action.in_(("user.disable", "user.role_change")),
                                                         AuditEvent.object_id == admin.email)).all()
