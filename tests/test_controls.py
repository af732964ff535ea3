"""Controls: who may create and edit them, mapping to items, retiring, optimistic locking."""
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import AuditEvent, Control, ControlRequirement

from .conftest import csrf_token


def new_control(client, ref="CTL-IAM-03", **fields):
    data = {"csrf_token": csrf_token(client, "/controls/new"), "ref": ref, "title": "Revue des droits",
            "category": "procedural", "status": "implemented", "owner": "", "review_cycle_days": "365", **fields}
    return client.post("/controls/new", data=data)


def test_contributor_creates_a_control_they_own_and_maps_it(catalogue_loaded, client, users, login_as):
    login_as("contributor")
    assert new_control(client, owner=str(users["manager"].id)).headers["Location"] == "/controls/CTL-IAM-03"
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        assert session.exec(select(Control.owner_id)).one() == users["contributor"].id  # always their own
    token = csrf_token(client, "/controls/CTL-IAM-03")
    client.post("/controls/CTL-IAM-03/map", data={"csrf_token": token, "requirements": "9.2.c", "statement": "Revue trimestrielle",
                                                  "confirmed": "1"})  # the confirmation page's answer
    page = client.get("/requirements/secnumcloud-3.2/9.2.c").get_data(as_text=True)
    assert "CTL-IAM-03" in page and "Revue trimestrielle" in page
    page = client.post("/controls/CTL-IAM-03/map", data={"csrf_token": token, "requirement": "99.1.z"},
                       follow_redirects=True).get_data(as_text=True)
    assert "le référentiel évalué ne contient aucun point « 99.1.z »" in page


def test_map_from_the_requirement_page_and_create_in_place(catalogue_loaded, client, login_as):
    login_as("manager")
    new_control(client, ref="CTL-AV-01")
    token = csrf_token(client, "/requirements/secnumcloud-3.2/12.4.a")
    response = client.post("/controls/map", data={"csrf_token": token, "control": "CTL-AV-01", "requirement": "12.4.a",
                                                   "statement": "EDR", "next": "/requirements/secnumcloud-3.2/12.4.a"})
    assert response.headers["Location"] == "/requirements/secnumcloud-3.2/12.4.a"
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        requirement_id = session.exec(select(ControlRequirement.requirement_id)).one()
    response = client.post(f"/controls/new?requirement={requirement_id}", data={
        "csrf_token": token, "ref": "CTL-AV-02", "title": "Passerelle", "category": "technical", "status": "planned",
        "owner": "", "review_cycle_days": "365", "statement": "Filtrage des flux entrants",
    })
    assert response.status_code == 302
    page = client.get("/requirements/secnumcloud-3.2/12.4.a").get_data(as_text=True)
    assert "CTL-AV-01" in page and "CTL-AV-02" in page and "Filtrage des flux entrants" in page


def test_contributor_cannot_touch_someone_elses_control(catalogue_loaded, client, users, login_as, app):
    login_as("manager")
    new_control(client, ref="CTL-MGR-01", owner=str(users["manager"].id))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login_as("contributor")
    assert client.get("/controls/CTL-MGR-01/edit").status_code == 403
    token = csrf_token(client, "/controls/CTL-MGR-01")
    assert client.post("/controls/CTL-MGR-01/retire", data={"csrf_token": token, "version": "1"}).status_code == 403
    assert client.post("/controls/CTL-MGR-01/map", data={"csrf_token": token, "requirement": "5.1.a"}).status_code == 403
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(Control.status)).one() == "implemented"
        assert session.exec(select(ControlRequirement)).all() == []


def test_retire_and_stale_edit(catalogue_loaded, client, login_as):
    login_as("manager")
    new_control(client)
    edit = {"csrf_token": csrf_token(client, "/controls/CTL-IAM-03/edit"), "ref": "CTL-IAM-03", "title": "Nouveau titre",
            "category": "procedural", "status": "implemented", "owner": "", "review_cycle_days": "180", "version": "1"}
    assert client.post("/controls/CTL-IAM-03/edit", data=edit).status_code == 302
    edit["title"] = "Titre périmé"
    assert "a été modifié par quelqu’un d’autre" in client.post("/controls/CTL-IAM-03/edit", data=edit).get_data(as_text=True)
    client.post("/controls/CTL-IAM-03/retire", data={"csrf_token": edit["csrf_token"], "version": "2", "confirmed": "1"})
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        control = session.exec(select(Control)).one()
        assert (control.title, control.status, control.review_cycle_days) == ("Nouveau titre", "retired", 180)
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.object_type == "control").order_by(AuditEvent.seq))]
        assert actions == ["control.create", "control.update", "control.retire"]
    client.get("/controls/CTL-IAM-03")  # consume the flash message
    assert "/controls/CTL-IAM-03\"" not in client.get("/controls/").get_data(as_text=True)  # retired: hidden by default
    assert "CTL-IAM-03" in client.get("/controls/?status=retired").get_data(as_text=True)


def test_duplicate_ref_is_refused(catalogue_loaded, client, login_as):
    login_as("manager")
    new_control(client)
    assert "une mesure a déjà la référence « CTL-IAM-03 »" in new_control(client, ref="ctl-iam-03").get_data(as_text=True)
