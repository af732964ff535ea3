"""Perimeters and their statement of applicability, in the UI and through the services."""
from sqlmodel import select

from evidence.core.errors import EvidenceError
from evidence.data import database as db
from evidence.data.models import Applicability, AuditEvent, Perimeter, User
from evidence.services import perimeters

from .conftest import csrf_token


def create(client, **fields):
    data = {"csrf_token": csrf_token(client, "/perimeters/new"), "framework": "secnumcloud-3.2", "phase": "preparation",
            "built_on": "", **fields}
    return client.post("/perimeters/new", data=data)


def test_manager_creates_perimeters_and_sees_the_statement_of_applicability(catalogue_loaded, client, login_as):
    login_as("manager")
    assert create(client, code="iaas-fr1", name="Socle IaaS", service_types=["IaaS"]).status_code == 302
    response = create(client, code="saas-collab", name="Suite <b>collab</b>", service_types=["SaaS"], built_on="iaas-fr1")
    assert response.headers["Location"] == "/perimeters/saas-collab"
    page = client.get("/perimeters/saas-collab").get_data(as_text=True)
    # SaaS built on an IaaS: 12.2.c (PaaS only) and 9.6.j/k (built on CaaS/PaaS) do not apply.
    assert "275 applicables, 0 hérités du socle, 3 non applicables" in page
    assert "Suite &lt;b&gt;collab&lt;/b&gt;" in page
    page = client.get("/perimeters/iaas-fr1").get_data(as_text=True)
    assert "272 applicables, 0 hérités du socle, 6 non applicables" in page


def test_invalid_perimeter_is_refused_with_a_clear_message(catalogue_loaded, client, login_as):
    login_as("manager")
    page = create(client, code="Bad Code!", name="X", service_types=["IaaS"]).get_data(as_text=True)
    assert "de 3 à 40 minuscules, chiffres et tirets" in page
    page = create(client, code="ok-code", name="X").get_data(as_text=True)
    assert "choisissez au moins un type de service" in page


def test_applicability_change_needs_a_justification_and_is_audited(catalogue_loaded, client, login_as):
    login_as("manager")
    create(client, code="iaas-fr1", name="Socle IaaS", service_types=["IaaS"])
    create(client, code="saas-collab", name="Suite", service_types=["SaaS"], built_on="iaas-fr1")
    url = "/perimeters/saas-collab/applicability/11.1.a"
    token = csrf_token(client, url)
    page = client.post(url, data={"csrf_token": token, "state": "inherited", "justification": ""}).get_data(as_text=True)
    assert "une justification est requise" in page
    response = client.post(url, data={"csrf_token": token, "state": "inherited",
                                      "justification": "Sites physiques du socle iaas-fr1"})
    assert response.status_code == 302
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "applicability.change")).one()
        assert event.details == {"requirement": "11.1.a", "from": "applicable", "to": "inherited",
                                 "justification": "Sites physiques du socle iaas-fr1"}
    page = client.get("/perimeters/saas-collab").get_data(as_text=True)
    assert "274 applicables, 1 hérités du socle" in page and "Sites physiques du socle iaas-fr1" in page
    # Back to applicable: the decision row goes, the default applies again.
    client.post(url, data={"csrf_token": token, "state": "applicable", "justification": ""})
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        assert session.exec(select(Applicability)).all() == []


def test_inherited_needs_a_lower_layer(catalogue_loaded, users):
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        manager = session.get(User, users["manager"].id)
        p = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(code="iaas-fr1", name="I", service_types=("IaaS",)))
        requirement = next(r.requirement for r in perimeters.statement_of_applicability(session, p) if r.requirement.ref == "11.1.a")
        try:
            perimeters.set_applicability(session, manager, p, requirement, "inherited", "because")
        except EvidenceError as error:
            assert "le périmètre iaas-fr1 ne repose sur aucun socle dont hériter" in str(error)
        else:
            raise AssertionError("inherited without a lower layer was accepted")


def test_concurrent_edit_is_refused(catalogue_loaded, client, login_as):
    login_as("manager")
    create(client, code="iaas-fr1", name="Socle IaaS", service_types=["IaaS"])
    form = {"csrf_token": csrf_token(client, "/perimeters/iaas-fr1/edit"), "code": "iaas-fr1", "name": "Renamed",
            "service_types": ["IaaS"], "framework": "secnumcloud-3.2", "built_on": "", "phase": "preparation",
            "version": "1"}
    assert client.post("/perimeters/iaas-fr1/edit", data=form).status_code == 302
    form["name"] = "Stale rename"  # same version 1: someone saved in between
    page = client.post("/perimeters/iaas-fr1/edit", data=form).get_data(as_text=True)
    assert "a été modifié par quelqu’un d’autre" in page
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        assert session.exec(select(Perimeter.name)).one() == "Renamed"


def test_a_perimeter_cannot_be_built_on_itself(catalogue_loaded, users):
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        manager = session.get(User, users["manager"].id)
        lower = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(code="iaas-fr1", name="I", service_types=("IaaS",)))
        upper = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code="saas-x", name="S", service_types=("SaaS",), built_on_code="iaas-fr1"))
        try:
            perimeters.update_perimeter(session, manager, lower, perimeters.PerimeterData(
                code="iaas-fr1", name="I", service_types=("IaaS",), built_on_code="saas-x"), lower.version)
        except EvidenceError as error:
            assert "il repose lui-même sur iaas-fr1" in str(error)
        else:
            raise AssertionError("a cycle was accepted")
        assert upper.built_on_id == lower.id


def test_contributor_and_auditor_cannot_edit_perimeters(catalogue_loaded, client, login_as):
    login_as("contributor")
    assert client.get("/perimeters/new").status_code == 403
    page = client.get("/perimeters/").get_data(as_text=True)
    assert "Nouveau périmètre" not in page
