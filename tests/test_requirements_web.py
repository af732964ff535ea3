"""The requirement browser, as the compliance team and the auditors use it."""
import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import Requirement

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def browse(catalogue_loaded, client, users, login_as):
    login_as("auditor")
    return client


def test_tree_shows_every_chapter_with_counts(browse):
    page = browse.get("/requirements/").get_data(as_text=True)
    assert "278 points (261 exigences, 17 recommandations)" in page
    assert '<span class="ref">19</span>' in page and "11.2.2.j" in page


def test_filters(browse):
    page = browse.get("/requirements/?kind=recommandation").get_data(as_text=True)
    assert "17 points" in page and "19.1.r" in page and "10.4.b" in page and "5.1.a" not in page
    page = browse.get("/requirements/?chapter=13").get_data(as_text=True)
    assert "8 points" in page
    page = browse.get("/requirements/?service_type=IaaS").get_data(as_text=True)
    assert "275 points" in page and "/12.2.c\"" not in page  # the three SaaS/PaaS-only items drop out


def test_search_ignores_case_and_accents_and_exact_ref_jumps(browse):
    page = browse.get("/requirements/?q=CHIFFREMENT+cle").get_data(as_text=True)
    assert "10.1.a" in page and "5.1.a" not in page
    response = browse.get("/requirements/?q=12.4.A")
    assert response.status_code == 302 and response.headers["Location"] == "/requirements/secnumcloud-3.2/12.4.a"


def test_item_page(browse):
    page = browse.get("/requirements/secnumcloud-3.2/12.4.a").get_data(as_text=True)
    assert "Preuves attendues" in page and "A.8.7" in page and "12.4 " in page
    assert "12.4.a#1" in page and "12.4.a#4" in page and "Export de la console EDR/antivirus" in page
    assert "A.8.7 porte sur la protection contre les logiciels malveillants." in page  # the link's reviewed rationale
    assert "Conditionnelle" not in page
    page = browse.get("/requirements/secnumcloud-3.2/10.2.a").get_data(as_text=True)
    assert "Conditionnelle" in page and "Si le prestataire chiffre des flux réseau." in page
    page = browse.get("/requirements/iso27001-2022/A.8.7").get_data(as_text=True)
    assert "12.4.a" in page  # links are shown from both ends
    assert browse.get("/requirements/secnumcloud-3.2/99.9.z").status_code == 404
    assert browse.get("/requirements/nope/1").status_code == 404


def test_official_text_is_escaped(app, browse):
    with app.app_context(), db.session_scope(app) as session:
        item = session.exec(select(Requirement).where(Requirement.ref == "5.1.a")).one()
        item.official_text = "<script>alert(1)</script>"
        session.add(item)
        session.commit()
    page = browse.get("/requirements/secnumcloud-3.2/5.1.a").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_english_titles(browse):
    from .conftest import csrf_token

    browse.post("/locale/en", data={"csrf_token": csrf_token(browse, "/")})
    page = browse.get("/requirements/secnumcloud-3.2/12.4.a").get_data(as_text=True)
    assert "Expected evidence" in page and "malware" in page.lower()
    assert "Export from the EDR/antivirus console" in page and "A.8.7 is about protection against malware." in page
    assert "The provider documents and runs measures to prevent, detect and recover from malware." in page
    page = browse.get("/requirements/secnumcloud-3.2/10.2.a").get_data(as_text=True)
    assert "If the provider encrypts network traffic." in page
