"""The evaluator's reach, object by object: an evaluator granted perimeter A until day D gets 403 or 404 on every
object of perimeter B, through every web route and every API endpoint; no page or list he opens names B or a
draft; on day D+1 he reaches A no more.

General by construction: the routes come from `app.url_map` and the endpoints from the OpenAPI document, their
arguments filled from B's objects (FILL_B below). A new route whose argument this test cannot fill fails it until
the argument is added here: every new door is checked. One app for the module (SQLite).
"""
from __future__ import annotations

import html
import io
import re
import shutil
from datetime import date, timedelta
from types import SimpleNamespace
from urllib.parse import urljoin, urlsplit

import pytest
from sqlmodel import select

from evidence.data import database as db
from evidence.data import storage
from evidence.data.models import PerimeterGrant, Requirement, User
from tests.conftest import TINY_CATALOGUE, create_role_users, csrf_token, login, make_app

# Access, not SQL: the lists' WHERE clauses are those of services/reach.py, which run on PostgreSQL elsewhere.
pytestmark = pytest.mark.sqlite_only

DAY = date(2026, 6, 15)  # the grant's last day
ITEM = "12.4.a"
# Endpoints this test cannot fill yet (their module's objects cannot be made): skipped, to be emptied. Empty: every
# route is checked.
PENDING: set[str] = set()
PENDING_ARGS: set[str] = set()  # filled by extra_objects() when a module's service is missing (then reported)
# Arguments that name nothing of a perimeter the evaluator could open: the caller's own account, a locale, a static
# file, the referential, a format; and the sovereignty registers' rows, behind the perimeter's code and opened by
# its managers alone (their routes are tried with B's code all the same).
NEUTRAL_ARGS = {"user_id": 1, "token_id": 1, "key_id": 1, "notification_id": 1, "token": "x", "filename": "css/app.css",
                "framework": "tiny-1.0", "collector": "prowler", "fmt": "xlsx", "action": "submit", "kind": "site",
                "row_id": 1, "holder_id": 1, "subcontractor_id": 1}


def _evidence(session, store, actor, title, perimeter, control, content, approve=None):
    from evidence.services import evidence as items

    made = items.create_evidence(session, actor, items.EvidenceData(
        title=title, kind="report", valid_until=date(2027, 1, 1), control_ids=[control.id],
        perimeter_ids=[perimeter.id]), store=store, upload=io.BytesIO(content), filename=f"{title}.pdf")
    if approve:
        items.review(session, actor, made, "submit")
        items.review(session, approve, made, "approve")
    return made


def build_world(session, store) -> SimpleNamespace:
    """Perimeters A (granted) and B, each with a control mapped to 12.4.a, approved and draft evidence, a finding,
    an action and dossiers; in A, evidence approved once whose second version is a draft."""
    from evidence import catalogue
    from evidence.dossier import generate
    from evidence.services import controls, findings, perimeters
    from evidence.services import evidence as items

    catalogue.load_catalogues(session, [TINY_CATALOGUE], "cli:test")
    people = create_role_users(session)
    manager, contributor = people["manager"], people["contributor"]
    requirement = session.exec(select(Requirement).where(Requirement.ref == ITEM)).one()
    world = SimpleNamespace(people=people, requirement_id=requirement.id)
    for key, code, name in (("a", "alpha-pa", "Nuage Alpha"), ("b", "bravo-pb", "Nuage Bravo")):
        perimeter = perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code=code, name=name, service_types=("IaaS",), framework_key="tiny-1.0"))
        control = controls.create_control(session, manager, controls.ControlData(
            ref=f"CTL-{key.upper()}-01", title=f"Mesure {name}", status="implemented", perimeter_ids=[perimeter.id]))
        controls.map_requirement(session, manager, control, requirement, f"Déployée sur {name}")
        approved = _evidence(session, store, contributor, f"Rapport {key}", perimeter, control, f"ok {key}".encode(),
                             approve=manager)
        draft = _evidence(session, store, contributor, f"Ebauche {key}", perimeter, control, f"wip {key}".encode())
        finding = findings.create_finding(session, manager, perimeter, findings.FindingData(
            severity="minor", text=f"Constat {name}", requirement_id=requirement.id, raised_on=DAY))
        action = findings.save_action(session, manager, perimeter, findings.ActionData(
            title=f"Action {name}", finding_ids=[finding.id], requirement_ids=[requirement.id]))
        dossiers = []
        for status in ("draft", "approved"):
            dossier = generate.queue(session, "cli:test", perimeter, "fr", False, "", DAY, organisation="Test")
            blob = store.put(io.BytesIO(b"%PDF-1.4 dossier " + f"{code} {status}".encode()))
            dossier.status, dossier.sha256, dossier.size, dossier.storage_key = status, blob.sha256, 100, blob.key
            if status == "approved":
                dossier.draft_sha256, dossier.draft_storage_key = blob.sha256, blob.key
            session.add(dossier)
            session.commit()
            dossiers.append(dossier)
        setattr(world, key, SimpleNamespace(
            id=perimeter.id, code=code, name=name, control=control.ref, approved=approved.ref, draft=draft.ref,
            finding=finding.id, action=action.id, draft_dossier=dossiers[0].id, dossier=dossiers[1].id,
            dossier_number=dossiers[1].number, draft_dossier_number=dossiers[0].number))
    # In A: evidence approved once, then a second version still a draft (the evaluator sees version 1 only).
    revised = session.exec(select(items.Evidence).where(items.Evidence.ref == world.a.approved)).one()
    items.add_version(session, contributor, revised, store=store, upload=io.BytesIO(b"second draft"),
                      filename="brouillon-secret.pdf", note="NOTE-BROUILLON-SECRETE")
    world.a.revised_number = 2
    session.add(PerimeterGrant(user_id=people["evaluator"].id, perimeter_id=world.a.id, until=DAY))
    # An internal auditor granted A alone: the same boundary (he reads drafts, but nothing of B).
    session.add(PerimeterGrant(user_id=people["auditor"].id, perimeter_id=world.a.id))
    session.commit()
    world.evaluator_email = people["evaluator"].email
    world.forbidden = [world.b.code, world.b.name, world.b.control, world.b.approved, world.b.draft, world.a.draft,
                       f"Mesure {world.b.name}", "Rapport b", "Ebauche", "brouillon-secret", "NOTE-BROUILLON-SECRETE"]
    extra_objects(session, world)
    return world


def importable(name: str):
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


def extra_objects(session, world) -> None:
    """Objects of the other modules of the evaluation workspace (campaigns, requests, comments), made through
    their services, one of each per perimeter: their ids fill the routes' arguments (`side.extra`). An argument
    whose service is not there yet goes to PENDING_ARGS (its routes are skipped, and listed in the report)."""
    from evidence.data.models import Control, EvidenceVersion
    from evidence.services import perimeters

    manager = session.get(User, world.people["manager"].id)
    makers = {
        "campaign_id": lambda services, perimeter, side: services["campaigns"].create_campaign(
            session, manager, perimeter, services["campaigns"].CampaignData(
                kind="initial", centre=f"Centre {side.name}", starts_on=DAY, ends_on=DAY)).id,
        "request_id": lambda services, perimeter, side: services["requests"].raise_request(
            session, manager, perimeter, services["requests"].RequestData(
                text=f"Demande {side.name}", control_id=control_of(side).id, due_date=DAY), DAY).id,
        "comment_id": lambda services, perimeter, side: services["comments"].post(
            session, manager, perimeter, "control", control_of(side).id, f"Commentaire {side.name}", DAY).id,
    }
    modules = {"campaign_id": "campaigns", "request_id": "requests", "comment_id": "comments"}

    def control_of(side):
        return session.exec(select(Control).where(Control.ref == side.control)).one()

    services = {name: module for name in modules.values() if (module := importable(f"evidence.services.{name}"))}
    for side in (world.a, world.b):
        side.extra = {}
        perimeter = perimeters.get_perimeter(session, side.code)
        for argument, make in makers.items():
            if modules[argument] not in services:
                PENDING_ARGS.add(argument)
                continue
            side.extra[argument] = make(services, perimeter, side)
    # A comment on the draft version of A's revised evidence: its thread is not the evaluator's (404).
    world.a.refused = []
    if "comments" in services:
        draft = session.exec(select(EvidenceVersion).where(EvidenceVersion.number == world.a.revised_number)).one()
        comment = services["comments"].post(session, manager, perimeters.get_perimeter(session, world.a.code),
                                            "evidence_version", draft.id, "Relecture NOTE-BROUILLON-SECRETE", DAY)
        world.a.refused.append(f"/perimeters/{world.a.code}/comments/{comment.id}")


@pytest.fixture(scope="module")
def scope_app(tmp_path_factory, sqlite_template):
    folder = tmp_path_factory.mktemp("evaluator-scope")
    shutil.copyfile(sqlite_template, folder / "evidence.db")
    app = make_app(folder / "instance", f"sqlite:///{folder / 'evidence.db'}", TODAY=DAY)
    with app.app_context(), db.session_scope(app) as session:
        app.world = build_world(session, storage.get_store(app))
    yield app
    db.get_engine(app).dispose()


def logged_in(app, email):
    client = app.test_client()
    assert login(client, email).status_code == 302
    client.csrf = csrf_token(client, "/")
    return client


@pytest.fixture(scope="module")
def evaluator(scope_app):
    return logged_in(scope_app, scope_app.world.evaluator_email)


@pytest.fixture(scope="module")
def token(scope_app):
    from evidence.services import api_tokens

    with scope_app.app_context(), db.session_scope(scope_app) as session:
        return api_tokens.create_token(session, None, "evaluator-scope", user_email=scope_app.world.evaluator_email).secret


# --- filling a route's arguments ---------------------------------------------------------------------------------


class Unfillable(Exception):
    """A route's argument this test does not know how to fill."""


def names_an_object(endpoint: str, arguments, path: str = "") -> bool:
    """Whether the route's address names an object of a perimeter (else it is a page of the referential, of the
    caller's own account or a list: its content is what is checked)."""
    where = endpoint.split(".")[0].removeprefix("api_") + " " + path
    named = set(arguments) - set(NEUTRAL_ARGS) - {"framework"}
    if where.startswith("requirements") and "code" not in arguments:
        named -= {"ref"}
    return bool(named) and endpoint != "auth.set_locale"


def fill(world, side, endpoint: str, arguments, path: str = "") -> dict:
    """The values of a route's arguments naming the objects of perimeter `side` (world.a or world.b). Raises
    Unfillable naming an argument this test does not know: add it here."""
    values = {}
    where = endpoint.split(".")[0].removeprefix("api_") + " " + path
    for name in arguments:
        if name in side.extra:
            values[name] = side.extra[name]
        elif name == "code" and endpoint == "auth.set_locale":
            values[name] = "en"
        elif name == "code":
            values[name] = side.code
        elif name == "requirement" or name == "ref" and ("code" in arguments or where.startswith("requirements")):
            values[name] = ITEM  # an item of the perimeter in the address (or of the referential)
        elif name == "ref" and where.startswith("controls"):
            values[name] = side.control
        elif name == "ref" and (where.startswith("evidence") or where.startswith("reviews")):
            values[name] = side.approved
        elif name == "number" and "ref" in arguments:
            values[name] = 1
        elif name == "number":
            values[name] = side.dossier_number
        elif name in ("finding_id", "action_id"):
            values[name] = getattr(side, name.removesuffix("_id"))
        elif name in ("dossier_id", "other_id"):
            values[name] = side.dossier if name == "dossier_id" else side.draft_dossier
        elif name == "requirement_id":
            values[name] = world.requirement_id
        elif name in NEUTRAL_ARGS:
            values[name] = NEUTRAL_ARGS[name]
        else:
            raise Unfillable(f"{endpoint}: argument <{name}> — add it to tests/test_evaluator_scope.py fill()")
    return values


def web_rules(app):
    return [rule for rule in app.url_map.iter_rules() if not rule.rule.startswith("/api/")
            and rule.endpoint != "static"]


def url_of(app, rule, values) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def leaks(world, text: str) -> list[str]:
    return [word for word in world.forbidden if word in text]


# --- (1) every web route filled with B's objects ----------------------------------------------------------------


def mixed(world) -> SimpleNamespace:
    """B's objects behind A's code: an object of another perimeter named in the address of his own."""
    return SimpleNamespace(**{**vars(world.b), "code": world.a.code})


@pytest.mark.parametrize("role", ["evaluator", "auditor"])
def test_every_web_route_refuses_the_objects_of_another_perimeter(scope_app, evaluator, role):
    world, unfillable, answered = scope_app.world, [], []
    client = evaluator if role == "evaluator" else logged_in(scope_app, world.people[role].email)
    for rule in web_rules(scope_app):
        if rule.endpoint in PENDING or rule.arguments & PENDING_ARGS:
            continue
        if not names_an_object(rule.endpoint, rule.arguments):
            continue  # nothing of B in the address: the pages' content is checked below
        try:
            urls = {url_of(scope_app, rule, fill(world, side, rule.endpoint, rule.arguments))
                    for side in (world.b, mixed(world))}
        except Unfillable as problem:
            unfillable.append(str(problem))
            continue
        urls.discard(url_of(scope_app, rule, fill(world, world.a, rule.endpoint, rule.arguments)))  # his own
        for url in sorted(urls):
            for method in sorted(rule.methods & {"GET", "POST"}):
                response = client.open(url, method=method, data={"csrf_token": client.csrf})
                answered.append((method, url, response.status_code))
    assert unfillable == []
    assert not PENDING_ARGS, f"routes not checked: their objects cannot be made yet ({sorted(PENDING_ARGS)})"
    wrong = [a for a in answered if a[2] not in (403, 404)]
    assert wrong == [], wrong
    assert len(answered) > 40  # the routes were really tried


# --- (2) every page he opens names nothing of B and no draft ------------------------------------------------------


def a_side_urls(app) -> list[str]:
    """Every GET route filled with A's objects (an evaluator opens them), and a few lists with filters."""
    world, urls = app.world, []
    for rule in web_rules(app):
        if "GET" not in rule.methods or rule.endpoint in PENDING or rule.arguments & PENDING_ARGS:
            continue
        values = fill(world, world.a, rule.endpoint, rule.arguments)
        urls.append(url_of(app, rule, values))
    urls += ["/evidence/?q=EV-0", "/evidence/?q=a", f"/evidence/?perimeter={world.b.id}", "/controls/?q=CTL",
             f"/evidence/{world.a.approved}/versions/{world.a.revised_number}/download",
             f"/dossiers/{world.a.draft_dossier}", f"/perimeters/{world.a.code}/matrix.csv", *world.a.refused]
    return urls


def test_no_page_the_evaluator_opens_names_another_perimeter_or_a_draft(scope_app, evaluator):
    world, seen, opened, found = scope_app.world, set(), [], []
    queue = a_side_urls(scope_app) + ["/"]
    while queue:
        url = queue.pop()
        if url in seen or "logout" in url:
            continue
        seen.add(url)
        response = evaluator.get(url)
        opened.append((url, response.status_code))
        assert response.status_code < 500, url
        if response.status_code != 200:
            continue
        body = response.get_data()
        text = body.decode("utf-8", "replace")
        if bad := leaks(world, text):
            found.append((url, bad))
        if response.mimetype == "text/html":
            for href in map(html.unescape, re.findall(r'<a\s[^>]*href="([^"]+)"', text)):
                target = urlsplit(urljoin(url, href))
                if target.netloc in ("", "localhost") and not target.path.startswith("/static"):
                    queue.append(target.path + (f"?{target.query}" if target.query else ""))
    assert found == [], "\n".join(map(str, found))
    opened = dict(opened)
    assert sum(status == 200 for status in opened.values()) > 50  # his pages were really read
    # What he must open: his perimeter and its pages, its approved evidence (version 1), its approved dossier.
    for url in (f"/perimeters/{world.a.code}", f"/evidence/{world.a.approved}", f"/dossiers/{world.a.dossier}",
                f"/evidence/{world.a.approved}/versions/1/download", f"/perimeters/{world.a.code}/findings",
                f"/controls/{world.a.control}", f"/perimeters/{world.a.code}/dashboard"):
        assert opened.get(url) == 200, (url, opened.get(url))
    # What he must not: the draft version of approved evidence, a draft dossier.
    for url in (f"/evidence/{world.a.approved}/versions/{world.a.revised_number}/download",
                f"/dossiers/{world.a.draft_dossier}", *world.a.refused):
        assert opened.get(url) == 404, (url, opened.get(url))
    home = evaluator.get("/").get_data(as_text=True)
    assert world.a.code in home or world.a.name in home
    # The revised evidence is, to him, its approved version: not the team's draft under way.
    shown = evaluator.get(f"/evidence/{world.a.approved}").get_data(as_text=True)
    assert "Approuvée" in shown and "Brouillon" not in shown
    # And so in the list's status filter: the team's draft under way is not told by what a filter finds.
    assert world.a.approved not in evaluator.get("/evidence/?status=draft").get_data(as_text=True)
    assert world.a.approved in evaluator.get("/evidence/?status=approved").get_data(as_text=True)


# --- (3) every API endpoint --------------------------------------------------------------------------------------


def api_operations(app):
    """(method, path template, parameters, a valid body) of every operation of the OpenAPI document."""
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    base = document.get("servers", [{}])[0].get("url", "/api/v1").rstrip("/") if document.get("servers") else "/api/v1"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                names = re.findall(r"{(\w+)}", path)
                content = operation.get("requestBody", {}).get("content", {})
                schema = content.get("application/json", {}).get("schema")
                query = "&".join(f"{p['name']}={sample(document, p.get('schema', {}))}" for p in
                                 operation.get("parameters", []) if p.get("in") == "query" and p.get("required"))
                yield (method.upper(), base + path + (f"?{query}" if query else ""), names,
                       sample(document, schema) if schema else {})


def sample(document, schema, depth=0):
    """A value the schema accepts (its required properties filled): the body reaches the view, which must then
    refuse B's object (a 422 would only show that the body was checked first)."""
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object" and depth < 4:
        return {name: sample(document, schema["properties"].get(name, {}), depth + 1)
                for name in schema.get("required", [])}
    return {"string": "2026-06-15" if schema.get("format") == "date" else "x", "integer": 1, "number": 1,
            "boolean": False, "array": []}.get(kind, {})


def api_url(template: str, values: dict) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), template)


def api_endpoint(app, method, url):
    adapter = app.url_map.bind("localhost")
    return adapter.match(urlsplit(url).path, method=method)[0]


def test_every_api_endpoint_refuses_the_objects_of_another_perimeter(scope_app, token):
    world, client = scope_app.world, scope_app.test_client()
    headers = {"Authorization": f"Bearer {token}", "If-Match": "*"}
    unfillable, wrong, tried = [], [], 0
    for method, template, names, body in api_operations(scope_app):
        if not names:
            continue
        endpoint = api_endpoint(scope_app, method, api_url(template, {n: 1 for n in names}))
        if endpoint in PENDING or set(names) & PENDING_ARGS:
            continue
        path = template.removeprefix("/api/v1/")
        if not names_an_object(endpoint, names, path):
            continue  # the referential's item: no perimeter in the address (its content is checked below)
        try:
            urls = {api_url(template, fill(world, side, endpoint, names, path)) for side in (world.b, mixed(world))}
        except Unfillable as problem:
            unfillable.append(str(problem))
            continue
        urls.discard(api_url(template, fill(world, world.a, endpoint, names, path)))  # his own
        for url in sorted(urls):
            status = client.open(url, method=method, json=body, headers=headers).status_code
            tried += 1
            if status not in (403, 404):
                wrong.append((method, url, status))
    assert unfillable == []
    assert wrong == [], wrong
    assert tried > 20


def test_api_answers_name_nothing_of_another_perimeter_nor_a_draft(scope_app, token):
    world, client = scope_app.world, scope_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    found, answered = [], {}
    for method, template, names, _body in api_operations(scope_app):
        if method != "GET":
            continue
        endpoint = api_endpoint(scope_app, method, api_url(template, {n: 1 for n in names}))
        if endpoint in PENDING or set(names) & PENDING_ARGS:
            continue
        url = api_url(template, fill(world, world.a, endpoint, names, template.removeprefix("/api/v1/")))
        for address in (url, url + ("&" if "?" in url else "?") + "per_page=100"):
            response = client.get(address, headers=headers)
            answered[address] = response.status_code
            assert response.status_code < 500, address
            if response.status_code == 200 and (bad := leaks(world, response.get_data().decode("utf-8", "replace"))):
                found.append((address, bad))
    assert found == [], "\n".join(map(str, found))
    assert answered[f"/api/v1/perimeters/{world.a.code}"] == 200
    assert answered[f"/api/v1/evidence/{world.a.approved}"] == 200
    refused = {f"/api/v1/evidence/{world.a.draft}", f"/api/v1/evidence/{world.a.draft}/versions",
               f"/api/v1/evidence/{world.a.approved}/versions/{world.a.revised_number}/file",
               f"/api/v1/perimeters/{world.a.code}/dossiers/{world.a.draft_dossier_number}"}
    for url in sorted(refused):
        assert client.get(url, headers=headers).status_code == 404, url
    drafts = client.get("/api/v1/evidence?status=draft", headers=headers).get_json()
    assert world.a.approved not in [e["ref"] for e in drafts["items"]]
    approved = client.get("/api/v1/evidence?status=approved&per_page=100", headers=headers).get_json()
    assert world.a.approved in [e["ref"] for e in approved["items"]]


# --- (4) the day after the grant's last day ----------------------------------------------------------------------


def test_the_day_after_the_grant_the_evaluator_reaches_nothing(scope_app, evaluator, token):
    world, client = scope_app.world, scope_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    scope_app.config["TODAY"] = DAY + timedelta(days=1)
    try:
        for url in (f"/perimeters/{world.a.code}", f"/evidence/{world.a.approved}", f"/controls/{world.a.control}",
                    f"/perimeters/{world.a.code}/findings", f"/dossiers/{world.a.dossier}"):
            assert evaluator.get(url).status_code == 404, url
        assert world.a.code not in evaluator.get("/perimeters/").get_data(as_text=True)
        assert world.a.approved not in evaluator.get("/evidence/").get_data(as_text=True)
        for url in (f"/api/v1/perimeters/{world.a.code}", f"/api/v1/evidence/{world.a.approved}",
                    f"/api/v1/controls/{world.a.control}", f"/api/v1/perimeters/{world.a.code}/findings"):
            assert client.get(url, headers=headers).status_code == 404, url
        assert client.get("/api/v1/perimeters", headers=headers).get_json()["total"] == 0
    finally:
        scope_app.config["TODAY"] = DAY
    assert evaluator.get(f"/perimeters/{world.a.code}").status_code == 200


# --- the rule of the lists, alone --------------------------------------------------------------------------------


def test_the_coverage_lists_show_an_evaluator_approved_evidence_and_no_layer_beyond_his_reach():
    from evidence.core.rules.token_scope import PerimeterScope
    from evidence.services import gaps

    def line(ref, status):
        return gaps.EvidenceLine(ref, ref, status, "report", 1, None, None, None, "", "valid")

    own = gaps.ItemRow(None, None, None, evidence=[line("EV-1", "approved"), line("EV-2", "draft")])
    inherited = gaps.ItemRow(None, None, None, evidence=[line("EV-3", "approved")], lower=SimpleNamespace(id=9))
    result = gaps.PerimeterStatus(SimpleNamespace(id=1), None, DAY, [own, inherited])
    refs = lambda r: [[e.ref for e in row.evidence] for row in r.rows]  # noqa: E731
    assert refs(gaps.for_reader(result, "manager")) == [["EV-1", "EV-2"], ["EV-3"]]
    assert refs(gaps.for_reader(result, "evaluator", PerimeterScope(frozenset({1, 9})))) == [["EV-1"], ["EV-3"]]
    assert refs(gaps.for_reader(result, "evaluator", PerimeterScope(frozenset({1})))) == [["EV-1"], []]
    assert refs(gaps.for_reader(result, "auditor", PerimeterScope(frozenset({1})))) == [["EV-1", "EV-2"], []]


def test_an_evaluator_reads_approved_dossiers_only():
    from evidence.core.rules import evaluation
    from evidence.core.vocabulary import DOSSIER_STATUSES

    assert [s for s in DOSSIER_STATUSES if evaluation.sees_dossier("evaluator", s)] == ["approved"]
    assert all(evaluation.sees_dossier(role, s) for role in ("auditor", "manager") for s in DOSSIER_STATUSES)
