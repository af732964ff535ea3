"""Pages judge against the TODAY setting (the clock's override), never against the machine's date."""
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from evidence.data import database as db
from evidence.data.models import User
from evidence.services.perimeters import PerimeterData, create_perimeter

from .conftest import csrf_token

# Far from the machine's date, so that the override and the real date always disagree.
REAL_DAY = datetime.now(timezone.utc).date()
DAY = REAL_DAY + timedelta(days=400)
ENDED = REAL_DAY + timedelta(days=200)  # still valid by the machine's date, expired by DAY
ENDING = DAY + timedelta(days=10)  # expiring by DAY, comfortably valid by the machine's date


@pytest.fixture
def perimeter(catalogue_loaded, users) -> int:
    """The id of the perimeter the evidence is valid for (it is linked to no control)."""
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        manager = session.get(User, users["manager"].id)
        return create_perimeter(session, manager, PerimeterData(code="iaas-fr1", name="IaaS", service_types=("IaaS",))).id


def add_evidence(client, perimeter: int, title: str, valid_until: date) -> str:
    response = client.post("/evidence/new", data={
        "csrf_token": csrf_token(client, "/evidence/new"), "title": title, "kind": "link", "owner": "",
        "classification": "internal", "requirements": "", "url": "https://soc.example.internal/dash",
        "effective_date": REAL_DAY.isoformat(), "valid_until": valid_until.isoformat(), "perimeters": [str(perimeter)],
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def test_the_evidence_pages_judge_freshness_by_the_override(catalogue_loaded, client, login_as, perimeter):
    catalogue_loaded.config["TODAY"] = DAY
    login_as("manager")
    ended = add_evidence(client, perimeter, "Rapport de pentest", ENDED)
    ending = add_evidence(client, perimeter, "Politique de sauvegarde", ENDING)

    assert "badge-expired" in client.get(ended).get_data(as_text=True)
    assert "badge-expiring" in client.get(ending).get_data(as_text=True)
    rows = {title: row for row in re.findall(r"<tr>.*?</tr>", client.get("/evidence/").get_data(as_text=True), re.S)
            for title in ("Rapport de pentest", "Politique de sauvegarde") if title in row}
    assert "badge-expired" in rows["Rapport de pentest"]
    assert "badge-expiring" in rows["Politique de sauvegarde"]
    expired = client.get("/evidence/?freshness=expired").get_data(as_text=True)
    assert "Rapport de pentest" in expired and "Politique de sauvegarde" not in expired
    expiring = client.get("/evidence/?freshness=expiring").get_data(as_text=True)
    assert "Politique de sauvegarde" in expiring and "Rapport de pentest" not in expiring


def test_new_evidence_takes_effect_on_the_override_day(catalogue_loaded, client, login_as):
    catalogue_loaded.config["TODAY"] = DAY
    login_as("contributor")
    assert f'value="{DAY.isoformat()}"' in client.get("/evidence/new").get_data(as_text=True)


def test_without_override_the_pages_use_the_current_date(catalogue_loaded, client, login_as, perimeter):
    login_as("manager")
    ended = add_evidence(client, perimeter, "Rapport de pentest", ENDED)
    assert "badge-valid" in client.get(ended).get_data(as_text=True)
