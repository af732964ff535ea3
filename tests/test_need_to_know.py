"""Need-to-know (issue 16, finding 14): a classification is a rule, not a label. A contributor who does not own
another owner's confidential evidence neither downloads its file nor reads its description or address on the
page, in a search, in an export, in the dossier's attachments or in the bundle; the people and roles named on it
do; naming them is audited and leaves the review as it is."""
import io
import zipfile
from datetime import timedelta

import pytest
from sqlmodel import select

from evidence import context
from evidence.core.errors import EvidenceError
from evidence.core.rules import need_to_know as rule
from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import AuditEvent, Evidence, EvidenceReader, User
from evidence.services import evidence as evidence_items
from evidence.services import need_to_know
from evidence.services import users as auth

from .conftest import DEMO_DAY, PASSWORD, csrf_token, login, seed_tiny_perimeter

# Pages, forms and a dossier's HTML: not SQL that differs between databases (the facts' queries run on both
# in test_every_page and the service tests elsewhere).
pytestmark = pytest.mark.sqlite_only

SECRET_DESCRIPTION = "Rapport du test d’intrusion ZX81-VULN"
SECRET_BYTES = b"contenu du rapport de pentest confidentiel"
SECRET_URL = "https://coffre.example.internal/rapport-zx81"


# --- The rule, as a table -------------------------------------------------------------------------------------

OWNER, NAMED, CONTROL_OWNER, STRANGER = 1, 2, 3, 9


def audience(classification, roles=()):
    return rule.Audience(classification, owner_id=OWNER, reader_roles=frozenset(roles), reader_ids=frozenset({NAMED}),
                         control_owner_ids=frozenset({CONTROL_OWNER}))


# (classification, role, who) → may read. `who`: a stranger to the evidence, its owner, a person named on it,
# the owner of a control it proves.
TABLE = [
    *[(c, r, STRANGER, True) for c in ("public", "internal") for r in ("admin", "manager", "contributor", "auditor")],
    ("restricted", "admin", STRANGER, True), ("restricted", "manager", STRANGER, True),
    ("restricted", "auditor", STRANGER, True), ("restricted", "contributor", STRANGER, False),
    ("restricted", "contributor", OWNER, True), ("restricted", "contributor", NAMED, True),
    ("restricted", "contributor", CONTROL_OWNER, True),
    ("confidential", "manager", STRANGER, True), ("confidential", "admin", STRANGER, False),
    ("confidential", "auditor", STRANGER, False), ("confidential", "contributor", STRANGER, False),
    ("confidential", "contributor", CONTROL_OWNER, False),  # proving his control is not a need to read it
    ("confidential", "contributor", OWNER, True), ("confidential", "contributor", NAMED, True),
    ("confidential", "auditor", NAMED, True), ("confidential", "admin", OWNER, True),
    ("secret-unknown", "admin", STRANGER, False), ("secret-unknown", "manager", STRANGER, True),  # as confidential
    # The evaluation centre reads restricted evidence as the auditors do; confidential only when named.
    ("internal", "evaluator", STRANGER, True), ("restricted", "evaluator", STRANGER, True),
    ("confidential", "evaluator", STRANGER, False), ("confidential", "evaluator", NAMED, True),
]


@pytest.mark.parametrize("classification, role, who, allowed", TABLE)
def test_who_may_read_by_classification_role_and_relation(classification, role, who, allowed):
    assert rule.may_read(rule.Reader(who, role), audience(classification)) is allowed


@pytest.mark.parametrize("role", ["admin", "auditor", "contributor"])
def test_a_role_named_on_confidential_evidence_reads_it(role):
    assert not rule.may_read(rule.Reader(STRANGER, role), audience("confidential"))
    assert rule.may_read(rule.Reader(STRANGER, role), audience("confidential", roles={role}))


def test_every_classification_has_a_rule_and_only_the_owner_or_a_manager_names_readers():
    from evidence.core.vocabulary import CLASSIFICATIONS

    assert set(rule.ROLES_BY_CLASSIFICATION) == set(CLASSIFICATIONS)
    assert rule.may_name_readers(rule.Reader(STRANGER, "manager"), audience("confidential"))
    assert rule.may_name_readers(rule.Reader(OWNER, "contributor"), audience("confidential"))
    for role in ("admin", "auditor", "contributor"):
        assert not rule.may_name_readers(rule.Reader(STRANGER, role), audience("confidential"))


# --- The doors ------------------------------------------------------------------------------------------------


@pytest.fixture
def classified(app, users):
    """A perimeter, the contributor's control, and evidence owned by another contributor ("Owen"): EV-0001 a
    confidential file, EV-0002 a confidential link, EV-0003 a restricted file proving the contributor's
    control. Returns the app and the ids of the people."""
    app.config["TODAY"] = DEMO_DAY
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        owen = auth.create_user(session, None, "owen@example.org", "Owen", "contributor", PASSWORD)
        store = storage.get_store(app)

        def add(classification, control_ids=(), **source):
            return evidence_items.create_evidence(session, owen, evidence_items.EvidenceData(
                title=f"Pentest {classification}", kind="link" if "url" in source else "report",
                description=SECRET_DESCRIPTION, owner_id=owen.id, classification=classification,
                effective_date=DEMO_DAY, valid_until=DEMO_DAY + timedelta(days=300),
                control_ids=list(control_ids), perimeter_ids=[tiny.perimeter.id]), note="note ZX81", **source)

        add("confidential", [tiny.control.id], store=store, upload=io.BytesIO(SECRET_BYTES), filename="pentest-zx81.txt")
        add("confidential", [tiny.control.id], url=SECRET_URL)
        add("restricted", [tiny.control.id], store=store, upload=io.BytesIO(b"restreint"), filename="restreint.txt")
        return app, {"owen": owen.id, **{role: u.id for role, u in users.items()}}


def login_as(client, email):
    if client.get("/login").status_code == 302:  # someone is logged in: log him out first
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert login(client, email).status_code == 302


def test_a_contributor_does_not_download_another_owners_confidential_file(classified, client):
    """The penetration test's attack: it must fail."""
    login_as(client, "contributor@example.org")
    assert client.get("/evidence/EV-0001/versions/1/download").status_code == 403
    page = client.get("/evidence/EV-0001").get_data(as_text=True)
    assert "Pentest confidential" in page and "Contenu réservé" in page  # listed, with what it is and a lock
    for secret in (SECRET_DESCRIPTION, "pentest-zx81.txt", "note ZX81", "/versions/1/download"):
        assert secret not in page
    assert SECRET_URL not in client.get("/evidence/EV-0002").get_data(as_text=True)
    listing = client.get("/evidence/").get_data(as_text=True)
    assert "EV-0001" in listing and "réservé" in listing
    assert client.get("/evidence/EV-0001/edit").status_code == 403


@pytest.mark.parametrize("email, allowed", [
    ("owen@example.org", True), ("manager@example.org", True),
    ("admin@example.org", False), ("auditor@example.org", False), ("contributor@example.org", False),
])
def test_confidential_file_by_reader(classified, client, email, allowed):
    login_as(client, email)
    response = client.get("/evidence/EV-0001/versions/1/download")
    assert response.status_code == (200 if allowed else 403)
    if allowed:
        assert response.data == SECRET_BYTES
        assert SECRET_DESCRIPTION in client.get("/evidence/EV-0001").get_data(as_text=True)


@pytest.mark.parametrize("email, allowed", [
    ("auditor@example.org", True), ("admin@example.org", True),
    ("contributor@example.org", True),  # owns the control it proves
])
def test_restricted_file_by_reader(classified, client, email, allowed):
    login_as(client, email)
    assert client.get("/evidence/EV-0003/versions/1/download").status_code == (200 if allowed else 403)


def test_restricted_file_is_refused_to_a_contributor_with_no_tie_to_it(classified):
    app, people = classified
    with app.app_context(), db.session_scope(app) as session:
        stranger = auth.create_user(session, None, "sam@example.org", "Sam", "contributor", PASSWORD)
        restricted = session.exec(select(Evidence).where(Evidence.ref == "EV-0003")).one()
        assert not need_to_know.can_read(session, stranger, restricted)
        assert need_to_know.can_read(session, "cli:operator", restricted)  # the operator holds the files anyway


def test_search_and_exports_never_carry_the_content(classified, client):
    app, _people = classified
    login_as(client, "contributor@example.org")
    found = client.get("/pickers/evidence?q=ZX81").get_json()
    assert found["results"] == []  # the description is never searched: a match would tell what it says
    assert [r["ref"] for r in client.get("/pickers/evidence?q=Pentest").get_json()["results"]] == [
        "EV-0001", "EV-0002", "EV-0003"]  # the metadata is everyone's
    listing = client.get("/evidence/?q=ZX81").get_data(as_text=True)
    assert "EV-0001" not in listing
    matrix = client.get("/perimeters/iaas-t/matrix.csv")
    assert matrix.status_code == 200
    for secret in (SECRET_DESCRIPTION, SECRET_URL, "pentest-zx81", "ZX81"):
        assert secret.encode() not in matrix.data


def test_named_person_and_role_read_it_through_the_readers_form(classified, client):
    app, people = classified
    login_as(client, "owen@example.org")
    page = client.get("/evidence/EV-0001/readers")
    assert page.status_code == 200
    found = client.get("/pickers/readers?q=auditor").get_json()["results"]  # auditors can be named, not own
    assert [r["ref"] for r in found] == ["auditor@example.org"]
    token = csrf_token(client, "/evidence/EV-0001/readers")
    with app.app_context(), db.session_scope(app) as session:
        version = session.exec(select(Evidence).where(Evidence.ref == "EV-0001")).one().version
    response = client.post("/evidence/EV-0001/readers", data={
        "csrf_token": token, "version": str(version), "roles": ["auditor"], "people": [str(people["contributor"])]})
    assert response.status_code == 302, response.get_data(as_text=True)
    for email in ("contributor@example.org", "auditor@example.org"):
        login_as(client, email)
        assert client.get("/evidence/EV-0001/versions/1/download").data == SECRET_BYTES
        assert client.get("/evidence/EV-0001/readers").status_code == 403  # reading is not naming
    login_as(client, "admin@example.org")
    assert client.get("/evidence/EV-0001/versions/1/download").status_code == 403
    page = client.get("/evidence/EV-0001").get_data(as_text=True)
    assert "Contributor" in page and "Rôle : Auditeur" in page  # who may read it, for the one who may not


def test_set_readers_is_audited_refused_to_others_and_leaves_the_review(classified):
    app, people = classified
    with app.app_context(), db.session_scope(app) as session:
        owen, manager = session.get(User, people["owen"]), session.get(User, people["manager"])
        evidence = session.exec(select(Evidence).where(Evidence.ref == "EV-0001")).one()
        evidence_items.review(session, owen, evidence, "submit")
        evidence_items.review(session, manager, evidence, "approve")
        for role in ("admin", "contributor", "auditor"):
            with pytest.raises(PermissionError):
                need_to_know.set_readers(session, session.get(User, people[role]), evidence, ["auditor"], [])
        with pytest.raises(EvidenceError):
            need_to_know.set_readers(session, owen, evidence, ["superuser"], [])
        with pytest.raises(EvidenceError):
            need_to_know.set_readers(session, owen, evidence, [], [987654])
        before = evidence.version
        need_to_know.set_readers(session, manager, evidence, ["auditor", "auditor"], [people["contributor"]])
        assert evidence.status == "approved" and evidence.version == before + 1
        assert evidence.reader_roles == ["auditor"]
        assert session.exec(select(EvidenceReader.user_id)).all() == [people["contributor"]]
        need_to_know.set_readers(session, owen, evidence, ["auditor"], [people["contributor"]])  # no change, no event
        need_to_know.set_readers(session, owen, evidence, [], [])
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence.readers")
                              .order_by(AuditEvent.seq)).all()
        assert [e.details["changes"] for e in events] == [
            {"reader_roles": [[], ["auditor"]], "readers": [[], ["contributor@example.org"]]},
            {"reader_roles": [["auditor"], []], "readers": [["contributor@example.org"], []]},
        ]
        assert evidence.status == "approved"


# --- The dossier and the bundle -------------------------------------------------------------------------------


def _approve_all(session, people):
    owen, manager = session.get(User, people["owen"]), session.get(User, people["manager"])
    for evidence in session.exec(select(Evidence).order_by(Evidence.ref)).all():
        evidence_items.review(session, owen, evidence, "submit")
        evidence_items.review(session, manager, evidence, "approve")


def _queue(session, actor):
    from evidence.dossier import generate
    from evidence.services.perimeters import get_perimeter

    return generate.queue(session, actor, get_perimeter(session, "iaas-t"), "fr", True, "", DEMO_DAY, organisation="")


def test_dossier_queued_by_someone_who_may_not_read_withholds_and_names_it(classified, tmp_path):
    """An administrator queues the dossier: the confidential file is neither attached nor bundled, the link's
    address is not printed, and the dossier says why; the restricted file, which he may read, is attached."""
    from evidence.dossier import bundle, pdf

    app, people = classified
    with app.app_context(), db.session_scope(app) as session:
        _approve_all(session, people)
        dossier = _queue(session, session.get(User, people["admin"]))
        snapshot = dossier.snapshot
        pinned = {e["ref"]: e for e in snapshot["evidence"]}
        assert {ref for ref, e in pinned.items() if e.get("withheld")} == {"EV-0001", "EV-0002"}
        store = storage.get_store(app)
        attached = pdf.attachments(snapshot, store, pdf.DEFAULT_MAX_ATTACHMENTS)
        assert [a.name for a in attached] == ["EV-0003-v1-restreint.txt"]
        assert SECRET_URL not in bundle.manifest_bytes(snapshot).decode()
        bundle.write_bundle(snapshot, b"%PDF-1.7 stand-in", store, tmp_path / "lot.zip")
        with zipfile.ZipFile(tmp_path / "lot.zip") as archive:
            names = archive.namelist()
            assert not any("EV-0001" in n for n in names) and any("EV-0003" in n for n in names)
            assert SECRET_BYTES not in b"".join(archive.read(n) for n in names)
        html = pdf.render_html(snapshot, "fr", settings=context.dossier_settings())
        assert "Contenu réservé (besoin d’en connaître)" in html and SECRET_URL not in html
        assert "EV-0001" in html and "pentest-zx81" not in html  # listed, its content withheld
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "dossier.queue")).one()
        assert event.details["evidence_withheld"] == ["EV-0001", "EV-0002"]


def test_dossier_queued_by_a_manager_carries_it_and_says_who_may_not_download_it(classified):
    from evidence.dossier import pdf

    app, people = classified
    with app.app_context(), db.session_scope(app) as session:
        _approve_all(session, people)
        snapshot = _queue(session, session.get(User, people["manager"])).snapshot
        assert not any(e.get("withheld") for e in snapshot["evidence"])
        attached = pdf.attachments(snapshot, storage.get_store(app), pdf.DEFAULT_MAX_ATTACHMENTS)
        assert sorted(a.name for a in attached) == ["EV-0001-v1-pentest-zx81.txt", "EV-0003-v1-restreint.txt"]
        assert SECRET_BYTES in [a.data for a in attached]
        # Such a dossier is for those who may read all it carries (the download's check).
        contributor = session.get(User, people["contributor"])
        assert need_to_know.dossier_unreadable(session, contributor, snapshot) == ["EV-0001", "EV-0002"]
        assert need_to_know.dossier_unreadable(session, session.get(User, people["owen"]), snapshot) == []


def test_a_list_is_judged_in_a_fixed_number_of_queries(classified):
    from sqlalchemy import event

    app, people = classified
    with app.app_context(), db.session_scope(app) as session:
        rows = session.exec(select(Evidence)).all()
        contributor = session.get(User, people["contributor"])
        statements = []
        listener = lambda *args, **kwargs: statements.append(1)  # noqa: E731
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", listener)
        try:
            readable = need_to_know.readable_ids(session, contributor, rows)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert readable == {session.exec(select(Evidence.id).where(Evidence.ref == "EV-0003")).one()}
        assert len(statements) == 2



def test_a_dossier_carrying_confidential_content_is_not_downloaded_by_who_may_not_read_it(classified, client):
    """The manager's dossier attaches EV-0001's file: the contributor sees the version but is offered no PDF and
    a direct download is refused; the owner downloads it."""
    app, people = classified
    with app.app_context(), db.session_scope(app) as session:
        _approve_all(session, people)
        dossier = _queue(session, session.get(User, people["manager"]))
        stored = storage.get_store(app).put(io.BytesIO(b"%PDF-1.7 stand-in"))
        dossier.status, dossier.storage_key, dossier.sha256, dossier.size = "draft", stored.key, stored.sha256, stored.size
        session.add(dossier)
        session.commit()
        dossier_id = dossier.id
    login_as(client, "contributor@example.org")
    page = client.get(f"/dossiers/{dossier_id}").get_data(as_text=True)
    assert "EV-0001, EV-0002" in page and f"/dossiers/{dossier_id}/download" not in page
    assert client.get(f"/dossiers/{dossier_id}/download").status_code == 403
    login_as(client, "owen@example.org")
    assert client.get(f"/dossiers/{dossier_id}/download").status_code == 200


def test_an_admin_who_approves_does_not_review_what_he_may_not_read(classified):
    """With ADMIN_APPROVES, an administrator approves evidence, but not confidential evidence he may not read:
    one cannot vouch for a file one has not seen (the service refuses, whatever the door)."""
    app, people = classified
    with app.app_context(), db.session_scope(app) as session:
        owen, admin = session.get(User, people["owen"]), session.get(User, people["admin"])
        confidential, restricted = (evidence_items.get_evidence(session, ref) for ref in ("EV-0001", "EV-0003"))
        for evidence in (confidential, restricted):
            evidence_items.review(session, owen, evidence, "submit")
        with pytest.raises(EvidenceError, match="vous ne pouvez pas le lire"):
            evidence_items.review(session, admin, confidential, "approve", admin_approves=True)
        session.rollback()
        evidence_items.review(session, admin, restricted, "approve", admin_approves=True)
        assert restricted.status == "approved"


def test_an_admin_does_not_change_content_he_may_not_read_whatever_the_door(classified):
    """The pages offer an administrator no edit of confidential evidence; the service refuses it too."""
    app, people = classified
    with app.app_context(), db.session_scope(app) as session:
        admin = session.get(User, people["admin"])
        evidence = evidence_items.get_evidence(session, "EV-0001")
        with pytest.raises(PermissionError):
            evidence_items.add_version(session, admin, evidence, store=storage.get_store(app),
                                       upload=io.BytesIO(b"replaced"), filename="x.txt")
        with pytest.raises(PermissionError):
            evidence_items.review(session, admin, evidence, "submit")
