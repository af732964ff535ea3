"""/api/v1/perimeters/{code}/actions: the perimeter's action plan — list (the action plan's filters), read, plan
(managers), update (a manager plans; the action's owner, a contributor, reports its status only, as on the web).

Every write is services.findings.save_action's (its checks, its words, its audit event). An action has no version
column: a PATCH takes no If-Match, as the web form sends none.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields
from sqlmodel import select

from evidence import context as db
from evidence.api import blueprint
from evidence.api.common import Problem, actor, paginate
from evidence.api.controls import owner_id, reachable_controls
from evidence.api.evidence_bodies import user_ref
from evidence.api.findings import requirement_id
from evidence.api.perimeters import CODE, perimeter_or_404, refusal, require_json_object, writable_perimeter
from evidence.api.schemas import PageArgsSchema, Schema, UserRefSchema, page_of, text
from evidence.core.access import access
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import ALL_ROLES, COMPLIANCE_ROLES, OPEN_ACTION_STATUSES, RESIDUAL_RISKS, WRITER_ROLES
from evidence.data.models import (
    ACTION_STATUSES,
    Action,
    ActionControl,
    ActionFinding,
    ActionRequirement,
    Control,
    Finding,
    Requirement,
    User,
)
from evidence.services.findings import ActionData, action_overdue, save_action
from evidence.web.clock import request_today

blp = blueprint("actions", __name__, "Actions: the perimeter's action plan (remediation of gaps and findings)")

ACTION = {"in": "path", "name": "action_id", "description": "the action's number", "example": 2}

NO_SUCH_ACTION = N_("%(code)s n’a pas d’action n° %(id)s")
NO_SUCH_CONTROLS = N_("mesure(s) inconnue(s) : %(refs)s")
NO_SUCH_FINDINGS = N_("constat(s) inconnu(s) dans %(code)s : %(ids)s")


class ActionListArgsSchema(PageArgsSchema):
    status = text(metadata={"description": "`open`: still to do (open or in progress)"})
    overdue = fields.Boolean(truthy={"true"}, falsy={"false"}, metadata={"description": "true: past their due date and not done"})


class ActionSchema(Schema):
    id = fields.Integer(required=True)
    perimeter = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    owner = fields.Nested(UserRefSchema, allow_none=True)
    due_date = fields.Date(allow_none=True)
    status = fields.String(required=True, metadata={"description": "open, in_progress, done or cancelled"})
    residual_risk = fields.String(required=True, metadata={"description": "low, medium, high; empty: not rated"})
    overdue = fields.Boolean(required=True)
    requirements = fields.List(fields.String(), required=True, metadata={"description": "items' refs"})
    controls = fields.List(fields.String(), required=True, metadata={"description": "controls' refs"})
    findings = fields.List(fields.Integer(), required=True, metadata={"description": "findings' ids"})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ActionFieldsSchema(Schema):
    """An action's fields as the form names them; its owner by e-mail, items and controls by ref, findings by id.
    An owner who is no manager changes the status alone (the rest is the manager's plan, kept as it is)."""

    class Meta:
        unknown = ma.RAISE

    title = text()
    description = text()
    owner = text(allow_none=True, metadata={"description": "an e-mail; empty: nobody"})
    due_date = fields.Date(allow_none=True)
    status = text(metadata={"enum": list(ACTION_STATUSES)})
    residual_risk = text(metadata={"enum": ["", *RESIDUAL_RISKS]})
    requirements = fields.List(text(), metadata={"description": "items' refs (e.g. 12.4.a)"})
    controls = fields.List(text(), metadata={"description": "controls' refs"})
    findings = fields.List(fields.Integer(), metadata={"description": "ids of the perimeter's findings"})


class ActionCreateSchema(ActionFieldsSchema):
    title = text(required=True)


# --- the call's words to the service's ids -----------------------------------------------------------------------


def action_or_404(perimeter, action_id: int) -> Action:
    action = db.get_session().get(Action, action_id)
    if action is None or action.perimeter_id != perimeter.id:
        raise Problem(404, NO_SUCH_ACTION, code=perimeter.code, id=action_id)
    return action


def _control_ids(session, refs) -> list[int]:
    """Controls by ref, among those the token reaches (another is unknown to it)."""
    wanted = list(dict.fromkeys(str(r).strip().upper()[:60] for r in refs if str(r).strip()))
    found = dict(session.exec(reachable_controls(select(Control.ref, Control.id).where(
        Control.ref.in_(wanted or ["-"])))).all())
    if unknown := [r for r in wanted if r not in found]:
        raise EvidenceError(NO_SUCH_CONTROLS, refs=", ".join(unknown), field="controls")
    return [found[r] for r in wanted]


def _finding_ids(session, perimeter, ids) -> list[int]:
    """The perimeter's findings by id (the form offers those alone)."""
    wanted = list(dict.fromkeys(ids))
    found = set(session.exec(select(Finding.id).where(Finding.perimeter_id == perimeter.id,
                                                      Finding.id.in_(wanted or [-1]))))
    if unknown := [i for i in wanted if i not in found]:
        raise EvidenceError(NO_SUCH_FINDINGS, code=perimeter.code, ids=", ".join(map(str, unknown)), field="findings")
    return wanted


def action_data(session, perimeter, values: dict, action: Action | None = None) -> ActionData:
    """The service's ActionData from the call's words; for a change (`action`), what the call does not give stays
    as it is (kept by id: a link the token could not name again, e.g. to a control beyond its perimeters, stays)."""
    kept = _kept_links(session, action) if action is not None else {}

    def given(name: str, default=None):
        return values[name] if name in values else (getattr(action, name) if action is not None else default)

    return ActionData(
        title=given("title", ""), description=given("description", ""),
        owner_id=owner_id(session, values["owner"]) if "owner" in values else (action.owner_id if action else None),
        due_date=given("due_date"), status=given("status", "open"), residual_risk=given("residual_risk", "") or "",
        requirement_ids=[requirement_id(session, perimeter, r, "requirements") for r in values["requirements"]
                         if r.strip()]
        if "requirements" in values else kept.get("requirements", []),
        control_ids=_control_ids(session, values["controls"]) if "controls" in values else kept.get("controls", []),
        finding_ids=_finding_ids(session, perimeter, values["findings"]) if "findings" in values
        else kept.get("findings", []))


def _kept_links(session, action: Action) -> dict:
    return {name: list(session.exec(select(column).where(model.action_id == action.id))) for name, model, column in (
        ("requirements", ActionRequirement, ActionRequirement.requirement_id),
        ("controls", ActionControl, ActionControl.control_id),
        ("findings", ActionFinding, ActionFinding.finding_id))}


# --- bodies ---------------------------------------------------------------------------------------------------


def describe(session, perimeter, actions: list[Action]) -> list[dict]:
    """The API's body of each action, in four queries whatever their number."""
    ids = [a.id for a in actions] or [-1]
    links = {name: {} for name in ("requirements", "controls", "findings")}
    for name, query in (
        ("requirements", select(ActionRequirement.action_id, Requirement.ref).join(
            Requirement, Requirement.id == ActionRequirement.requirement_id)
         .where(ActionRequirement.action_id.in_(ids)).order_by(Requirement.order)),
        ("controls", select(ActionControl.action_id, Control.ref).join(Control, Control.id == ActionControl.control_id)
         .where(ActionControl.action_id.in_(ids)).order_by(Control.ref)),
        ("findings", select(ActionFinding.action_id, ActionFinding.finding_id)
         .where(ActionFinding.action_id.in_(ids)).order_by(ActionFinding.finding_id)),
    ):
        for action_id, value in session.exec(query):
            links[name].setdefault(action_id, []).append(value)
    owners = {u.id: u for u in session.exec(select(User).where(User.id.in_(
        {a.owner_id for a in actions if a.owner_id is not None} or {-1})))}
    today = request_today()
    return [{
        "id": a.id, "perimeter": perimeter.code, "title": a.title, "description": a.description,
        "owner": user_ref(owners.get(a.owner_id)), "due_date": a.due_date, "status": a.status,
        "residual_risk": a.residual_risk, "overdue": action_overdue(a, today),
        "requirements": links["requirements"].get(a.id, []), "controls": links["controls"].get(a.id, []),
        "findings": links["findings"].get(a.id, []), "created_at": a.created_at, "updated_at": a.updated_at,
    } for a in actions]


# --- views ------------------------------------------------------------------------------------------------------


@blp.route("/perimeters/<code>/actions", parameters=[CODE])
@access(*ALL_ROLES)
@blp.arguments(ActionListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_of(ActionSchema))
@refusal(blp, 404, "no such perimeter, or beyond the token's perimeters")
def list_actions(code: str, **args):
    """The perimeter's actions in the action plan's order (status, due date), with its filters."""
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    query = select(Action).where(Action.perimeter_id == perimeter.id)
    if args.get("status") == "open":
        query = query.where(Action.status.in_(OPEN_ACTION_STATUSES))
    query = query.order_by(Action.status, Action.due_date, Action.id)
    if args.get("overdue"):  # the rule judges, as on the action plan: a perimeter's plan is read whole, then paged
        today = request_today()
        rows = [a for a in session.exec(query) if action_overdue(a, today)]
        page, per_page = args["page"], args["per_page"]
        return {"items": describe(session, perimeter, rows[(page - 1) * per_page:page * per_page]), "page": page,
                "per_page": per_page, "total": len(rows), "pages": max((len(rows) + per_page - 1) // per_page, 1)}
    page = paginate(session, query, args)
    page["items"] = describe(session, perimeter, page["items"])
    return page


@blp.route("/perimeters/<code>/actions", methods=["POST"], parameters=[CODE])
@access(*COMPLIANCE_ROLES)
@blp.arguments(ActionCreateSchema, example={
    "title": "Revoir la politique antimalware", "owner": "claire.fontaine@nuage-souverain.example",
    "due_date": "2026-07-31", "requirements": ["12.4.a"], "controls": ["CTL-OPS-02"], "residual_risk": "medium"})
@blp.response(201, ActionSchema, headers={"Location": {"schema": {"type": "string"}}})
@refusal(blp, 403, "the role, or the token's perimeters, do not allow it")
@refusal(blp, 422, "a field is refused: `errors` names it")
def create_action_view(body: dict, code: str):
    """Add an action to the perimeter's plan."""
    session = db.get_session()
    perimeter = writable_perimeter(code)
    action = save_action(session, actor(), perimeter, action_data(session, perimeter, body))
    return describe(session, perimeter, [action])[0], 201, {
        "Location": f"{blp.url_prefix}/perimeters/{perimeter.code}/actions/{action.id}"}


@blp.route("/perimeters/<code>/actions/<int:action_id>", parameters=[CODE, ACTION])
@access(*ALL_ROLES)
@blp.response(200, ActionSchema)
@refusal(blp, 404, "no such perimeter or action")
def get_action(code: str, action_id: int):
    session = db.get_session()
    perimeter = perimeter_or_404(code)
    return describe(session, perimeter, [action_or_404(perimeter, action_id)])[0]


@blp.route("/perimeters/<code>/actions/<int:action_id>", methods=["PATCH"], parameters=[CODE, ACTION])
@access(*WRITER_ROLES)
@blp.arguments(ActionFieldsSchema, example={"status": "in_progress"})
@blp.response(200, ActionSchema)
@refusal(blp, 403, "neither a manager nor the action's owner")
@refusal(blp, 404, "no such perimeter or action")
@refusal(blp, 422, "a field is refused: `errors` names it")
def patch_action(body: dict, code: str, action_id: int):
    """Change the fields given (the others stay). The action's owner who is no manager reports its status: the
    rest of what the call gives is the manager's plan, and left as it is (as the web's owner form offers the
    status alone)."""
    require_json_object()
    session = db.get_session()
    perimeter = writable_perimeter(code)
    action = action_or_404(perimeter, action_id)
    # What an owner who is no manager may change: its status (services.findings keeps the rest of the plan).
    given = body if actor().role in COMPLIANCE_ROLES else {k: v for k, v in body.items() if k == "status"}
    save_action(session, actor(), perimeter, action_data(session, perimeter, given, action), action)
    return describe(session, perimeter, [action])[0]
