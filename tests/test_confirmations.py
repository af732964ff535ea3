"""Every destructive action asks first: without `confirmed=1` the POST changes nothing and answers a page that
says what will happen and posts the same fields again with `confirmed=1`; every button that leads there carries the
`data-confirm` text the dialog shows. Deleted register rows stay readable in the audit trail."""
import re
from html import unescape

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data.models import (
    AuditEvent,
    ChangeNotice,
    Control,
    ControlRequirement,
    DataLocation,
    EntryWaiver,
    Evidence,
    OperationLocation,
    Perimeter,
    PerimeterDocument,
    Requirement,
    Shareholder,
    Site,
    SovereigntyChange,
    Subcontractor,
    SubcontractorPerimeter,
    User,
)
from evidence.services import sovereignty

from .conftest import csrf_token, login

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only

CODE = "iaas-fr1"


def hidden_fields(form_html: str) -> list[tuple[str, str]]:
    return [(unescape(name), unescape(value)) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form_html)]


def confirmation_form(page: str) -> tuple[str, list[tuple[str, str]]]:
    match = re.search(r'<form method="post" action="([^"]+)" class="confirm-actions">(.*?)</form>', page, re.S)
    assert match, page[:3000]
    return unescape(match.group(1)), hidden_fields(match.group(2))


def one(app, query):
    with app.app_context(), db.session_scope(app) as session:
        return session.exec(query).first()


def perimeter_id(app) -> int:
    return one(app, select(Perimeter.id).where(Perimeter.code == CODE))


def _row(model, app, extra=()):
    query = select(model.id)
    if hasattr(model, "perimeter_id"):
        query = query.where(model.perimeter_id == perimeter_id(app))
    for condition in extra:
        query = query.where(condition)
    return one(app, query.order_by(model.id))


def register_case(kind, model):
    def arrange(app):
        row_id = _row(model, app)
        assert row_id, f"the demo has no {kind} on {CODE}"
        return (f"/perimeters/{CODE}/sovereignty/{kind}/{row_id}/delete", {},
                lambda: one(app, select(model.id).where(model.id == row_id)) is not None)
    return arrange


def subcontractor_case(app):
    row_id = one(app, select(Subcontractor.id).order_by(Subcontractor.id))
    return (f"/perimeters/{CODE}/sovereignty/subcontractor/{row_id}/delete", {},
            lambda: one(app, select(Subcontractor.id).where(Subcontractor.id == row_id)) is not None)


def change_case(model):
    def arrange(app):
        row_id = one(app, select(model.id).order_by(model.id))
        kind = "change" if model is SovereigntyChange else "notice"
        return (f"/perimeters/{CODE}/sovereignty/{kind}/{row_id}/delete", {},
                lambda: one(app, select(model.id).where(model.id == row_id)) is not None)
    return arrange


def retire_case(app):
    ref, version = one(app, select(Control.ref, Control.version).where(Control.status == "implemented")
                       .order_by(Control.ref))
    return (f"/controls/{ref}/retire", {"version": str(version)},
            lambda: one(app, select(Control.status).where(Control.ref == ref)) != "retired")


def unmap_case(app):
    ref, requirement_id = one(app, select(Control.ref, ControlRequirement.requirement_id).join(
        ControlRequirement, ControlRequirement.control_id == Control.id).order_by(Control.ref))
    return (f"/controls/{ref}/unmap/{requirement_id}", {},
            lambda: one(app, select(ControlRequirement.id).join(Control, Control.id == ControlRequirement.control_id)
                        .where(Control.ref == ref, ControlRequirement.requirement_id == requirement_id)) is not None)


def document_case(app):
    role, ref = one(app, select(PerimeterDocument.role, Evidence.ref).join(
        Evidence, Evidence.id == PerimeterDocument.evidence_id).where(PerimeterDocument.perimeter_id == perimeter_id(app))
        .order_by(PerimeterDocument.id))
    return (f"/perimeters/{CODE}/documents/remove", {"role": role, "evidence": ref},
            lambda: one(app, select(PerimeterDocument.id).where(PerimeterDocument.role == role,
                                                                 PerimeterDocument.perimeter_id == perimeter_id(app)))
            is not None)


def waiver_case(app):
    from evidence.services.waivers import set_waiver

    with app.app_context(), db.session_scope(app) as session:
        perimeter = session.exec(select(Perimeter).where(Perimeter.code == CODE)).one()
        requirement = session.exec(select(Requirement).where(Requirement.framework_id == perimeter.framework_id,
                                                             Requirement.ref == "12.4.a")).one()
        entry = requirement.expected_evidence[0]["id"]
        set_waiver(session, session.exec(select(User).where(User.role == "manager")).first(), perimeter, requirement,
                   entry, "Couvert par le socle")
    return (f"/perimeters/{CODE}/waiver/12.4.a", {"entry": entry, "clear": "1"},
            lambda: one(app, select(EntryWaiver.id).where(EntryWaiver.entry_id == entry)) is not None)


def review_case(status, action):
    def arrange(app):
        ref, version = one(app, select(Evidence.ref, Evidence.version).where(Evidence.status == status)
                           .order_by(Evidence.ref))
        fields = {"version": str(version), **({"comment": "Capture illisible"} if action == "reject" else {})}
        return (f"/evidence/{ref}/review/{action}", fields,
                lambda: one(app, select(Evidence.status).where(Evidence.ref == ref)) == status)
    return arrange


def disable_case(app):
    user_id = one(app, select(User.id).where(User.email == "contributor@example.org"))
    return (f"/admin/users/{user_id}/active", {}, lambda: one(app, select(User.active).where(User.id == user_id)))


def role_case(app):
    user_id = one(app, select(User.id).where(User.email == "contributor@example.org"))
    return (f"/admin/users/{user_id}/role", {"role": "auditor"},
            lambda: one(app, select(User.role).where(User.id == user_id)) == "contributor")


CASES = {
    "delete holder": ("manager", register_case("holder", Shareholder)),
    "delete subcontractor": ("manager", subcontractor_case),
    "delete site": ("manager", register_case("site", Site)),
    "delete data location": ("manager", register_case("data", DataLocation)),
    "delete operation": ("manager", register_case("operation", OperationLocation)),
    "delete change": ("manager", change_case(SovereigntyChange)),
    "delete notice": ("manager", change_case(ChangeNotice)),
    "retire control": ("manager", retire_case),
    "unmap item": ("manager", unmap_case),
    "remove perimeter document": ("manager", document_case),
    "lift waiver": ("manager", waiver_case),
    "reject evidence": ("manager", review_case("in_review", "reject")),
    "reopen approved evidence": ("manager", review_case("approved", "reopen")),
    "disable user": ("admin", disable_case),
    "change role": ("admin", role_case),
}


@pytest.mark.parametrize("case", CASES)
def test_a_destructive_action_asks_first_then_acts_on_confirmation(demo_loaded, client, users, case):
    role, arrange = CASES[case]
    app = demo_loaded
    url, fields, unchanged = arrange(app)
    assert unchanged()
    login(client, users[role].email)
    token = csrf_token(client, "/")
    response = client.post(url, data={"csrf_token": token, **fields}, headers={"Referer": "http://localhost/controls/"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert unchanged(), "nothing may change before the confirmation"
    action, posted = confirmation_form(page)
    assert action == url
    assert ("confirmed", "1") in posted and dict(posted)["csrf_token"]
    assert set(fields.items()) <= set(posted)
    assert 'href="/controls/"' in page  # « Annuler » goes back where the button was
    response = client.post(action, data=dict(posted))
    assert response.status_code == 302
    assert not unchanged()


def test_cancel_never_leads_to_another_site(demo_loaded, client, users):
    login(client, users["manager"].email)
    url, fields, _unchanged = retire_case(demo_loaded)
    page = client.post(url, data={"csrf_token": csrf_token(client, "/"), **fields},
                       headers={"Referer": "https://attacker.example/controls/"}).get_data(as_text=True)
    assert "attacker.example" not in page
    assert re.search(r'<a class="button" href="/controls/CTL-[^"]+">', page)


def test_enabling_and_mapping_need_no_confirmation(demo_loaded, client, users):
    """Only what destroys or undoes asks: enabling an account again acts at once."""
    app = demo_loaded
    with app.app_context(), db.session_scope(app) as session:
        from evidence.services import users as auth
        auth.set_active(session, None, auth.get_user(session, "contributor@example.org"), False)
    login(client, users["admin"].email)
    user_id = one(app, select(User.id).where(User.email == "contributor@example.org"))
    response = client.post(f"/admin/users/{user_id}/active", data={"csrf_token": csrf_token(client, "/admin/users")})
    assert response.status_code == 302 and one(app, select(User.active).where(User.id == user_id))


DESTRUCTIVE = re.compile(r"/delete$|/retire$|/unmap/|/documents/remove$|/review/reject$|/users/\d+/active$|"
                         r"/users/\d+/role$")


@pytest.mark.parametrize("role, pages", [
    ("manager", ["/controls/{control}", f"/perimeters/{CODE}", f"/perimeters/{CODE}/sovereignty",
                 "/evidence/{in_review}"]),
    ("admin", ["/admin/users"]),
])
def test_every_destructive_button_carries_its_question(demo_loaded, client, users, role, pages):
    """The dialog needs the question on the form or on its button; a button without one would act at once with
    JavaScript on (the server would still ask, one page later)."""
    app = demo_loaded
    names = {"control": one(app, select(Control.ref).join(ControlRequirement, ControlRequirement.control_id == Control.id)
                            .where(Control.status != "retired").order_by(Control.ref)),
             "in_review": one(app, select(Evidence.ref).where(Evidence.status == "in_review").order_by(Evidence.ref))}
    login(client, users[role].email)
    seen = 0
    for path in pages:
        page = client.get(path.format(**names)).get_data(as_text=True)
        for form in re.findall(r"<form\b[^>]*>.*?</form>", page, re.S):
            action = re.search(r'action="([^"]*)"', form)
            if not action or not DESTRUCTIVE.search(unescape(action.group(1))):
                continue
            seen += 1
            assert "data-confirm=" in form, form[:400]
    assert seen >= 3


def test_a_deleted_register_row_keeps_its_values_in_the_audit_trail(demo_loaded, client, users):
    app = demo_loaded
    with app.app_context(), db.session_scope(app) as session:
        linked = session.exec(select(SubcontractorPerimeter.subcontractor_id)).first()
        subcontractor = session.get(Subcontractor, linked) if linked else session.exec(select(Subcontractor)).first()
        name, country, service = subcontractor.name, subcontractor.country, subcontractor.service
        codes = sorted(session.exec(select(Perimeter.code).join(SubcontractorPerimeter).where(
            SubcontractorPerimeter.subcontractor_id == subcontractor.id)))
        change = session.exec(select(SovereigntyChange).join(ChangeNotice)).first()
        notices = len(session.exec(select(ChangeNotice).where(ChangeNotice.change_id == change.id)).all())
        change_description = change.description
        manager = session.get(User, users["manager"].id)
        sovereignty.delete_row(session, manager, subcontractor)
        sovereignty.delete_row(session, manager, change)
        deleted = {event.object_type: event.details["deleted"] for event in session.exec(
            select(AuditEvent).where(AuditEvent.action.like("sovereignty.%.delete")))}
    assert deleted["subcontractor"]["name"] == name and deleted["subcontractor"]["country"] == country
    assert deleted["subcontractor"]["service"] == service and deleted["subcontractor"]["perimeters"] == codes
    assert deleted["sovereignty_change"]["description"] == change_description
    assert len(deleted["sovereignty_change"]["notices"]) == notices
    assert all(isinstance(v, (str, int, float, bool, list, dict, type(None))) for v in deleted["sovereignty_change"].values())


def test_unmapping_keeps_the_statement_in_the_audit_trail(demo_loaded, client, users):
    app = demo_loaded
    url, fields, _unchanged = unmap_case(app)
    ref, requirement_id = url.split("/")[2], int(url.rsplit("/", 1)[1])
    statement = one(app, select(ControlRequirement.statement).join(Control, Control.id == ControlRequirement.control_id)
                    .where(Control.ref == ref, ControlRequirement.requirement_id == requirement_id))
    login(client, users["manager"].email)
    client.post(url, data={"csrf_token": csrf_token(client, "/"), "confirmed": "1"})
    event = one(app, select(AuditEvent).where(AuditEvent.action == "control.unmap"))
    assert event.details["statement"] == statement and statement
