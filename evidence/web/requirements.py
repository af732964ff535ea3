"""The requirement browser: chapter → section → item, filters, search, and the item page."""
from __future__ import annotations

from collections import Counter

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import and_, or_
from sqlalchemy.orm import aliased
from sqlmodel import select

from evidence import catalogue
from evidence import context as db
from evidence.core.access import access
from evidence.core.vocabulary import ALL_ROLES, MAX_STATEMENT, WRITER_ROLES
from evidence.data.models import (
    REQUIREMENT_KINDS,
    SERVICE_TYPES,
    Control,
    ControlRequirement,
    Framework,
    Perimeter,
    Requirement,
    RequirementLink,
    Section,
    User,
)
from evidence.presentation import labels
from evidence.services import gaps, reach
from evidence.web import current_scope, pickers
from evidence.web.clock import request_today

bp = Blueprint("requirements", __name__, url_prefix="/requirements")


def _frameworks(session) -> list[Framework]:
    # Assessed referentials first: they are what the team works against.
    return list(session.exec(select(Framework).order_by(Framework.assessed.desc(), Framework.key)))


def _choice(value: str, allowed) -> str:
    return value if value in allowed else ""


@bp.route("/")
@access(*ALL_ROLES)
def index():
    session = db.get_session()
    frameworks = _frameworks(session)
    if not frameworks:
        return render_template("web/requirements/index.html", frameworks=[], framework=None)
    key = request.args.get("framework") or frameworks[0].key
    framework = next((f for f in frameworks if f.key == key), None) or abort(404)
    filters = {
        "chapter": request.args.get("chapter", "")[:20],
        "kind": _choice(request.args.get("kind", ""), REQUIREMENT_KINDS),
        "service_type": _choice(request.args.get("service_type", ""), SERVICE_TYPES),
        "q": request.args.get("q", "").strip()[:200],
    }
    requirements = list(session.exec(
        select(Requirement).where(Requirement.framework_id == framework.id).order_by(Requirement.order)
    ))
    if filters["q"]:
        exact = next((r for r in requirements if r.ref.casefold() == filters["q"].casefold()), None)
        if exact is not None:
            return redirect(url_for("requirements.show", framework=framework.key, ref=exact.ref))
        requirements = catalogue.search(requirements, filters["q"])
    if filters["chapter"]:
        requirements = [r for r in requirements if r.chapter == filters["chapter"]]
    if filters["kind"]:
        requirements = [r for r in requirements if r.kind == filters["kind"]]
    if filters["service_type"]:
        requirements = [r for r in requirements if catalogue.applies_to(r, filters["service_type"])]

    sections = list(session.exec(select(Section).where(Section.framework_id == framework.id).order_by(Section.order)))
    return render_template(
        "web/requirements/index.html", frameworks=frameworks, framework=framework,
        tree=catalogue.build_tree(sections, requirements), chapters=[s for s in sections if s.parent_ref is None],
        filters=filters, filtering=any(filters.values()), total=len(requirements),
        kinds=Counter(r.kind for r in requirements), service_types=SERVICE_TYPES,
    )


@bp.route("/<framework>/<path:ref>", methods=["GET", "POST"])
@access(*ALL_ROLES, write=WRITER_ROLES)
def show(framework: str, ref: str):
    """The item's page; a POST is only the "Associer" picker's search made without JavaScript (it changes nothing:
    the page comes back with the matches, the pick and the statement kept)."""
    if request.method == "POST" and not pickers.searching():
        abort(400)
    session = db.get_session()
    fw = session.exec(select(Framework).where(Framework.key == framework)).first() or abort(404)
    requirement = session.exec(
        select(Requirement).where(Requirement.framework_id == fw.id, Requirement.ref == ref)
    ).first() or abort(404)
    sections = {s.ref: s for s in session.exec(select(Section).where(Section.framework_id == fw.id))}
    trail = []
    cursor = requirement.section
    while cursor in sections and len(trail) < 10:
        trail.insert(0, sections[cursor])
        cursor = sections[cursor].parent_ref

    other = aliased(Requirement)
    related = session.exec(
        select(RequirementLink, other, Framework)
        .join(other, or_(
            and_(RequirementLink.source_id == requirement.id, other.id == RequirementLink.target_id),
            and_(RequirementLink.target_id == requirement.id, other.id == RequirementLink.source_id),
        ))
        .join(Framework, Framework.id == other.framework_id)
        .order_by(Framework.key, other.order)
    ).all()
    controls = session.exec(reach.only_reachable_controls(
        select(ControlRequirement, Control, User)
        .join(Control, Control.id == ControlRequirement.control_id)
        .outerjoin(User, User.id == Control.owner_id)
        .where(ControlRequirement.requirement_id == requirement.id), current_scope())
        .order_by(Control.ref)
    ).all()
    can_map = current_user.role in WRITER_ROLES and fw.assessed
    control_picker, given = None, request.form if pickers.searching() else request.args
    if can_map:
        # No control is preselected: a default would map the wrong one. A contributor maps his own controls.
        control_picker = pickers.build(
            "controls", "control", [given.get("control", "")], multiple=False, editable=True,
            exclude=[control.ref for _m, control, _o in controls])
    return render_template(
        "web/requirements/show.html", framework=fw, requirement=requirement, trail=trail, related=related,
        controls=controls, control_picker=control_picker, can_map=can_map,
        statement=given.get("statement", "")[:MAX_STATEMENT], standing=_standing(session, fw, requirement),
        status_labels=labels.STATUS, control_statuses=labels.capitalised(labels.CONTROL_STATUS),
        evidence_statuses=labels.capitalised(labels.EVIDENCE_STATUS),
        freshness_labels=labels.capitalised(labels.FRESHNESS), applicability_labels=labels.APPLICABILITY,
    )


def _standing(session, framework: Framework, requirement: Requirement) -> list[tuple[Perimeter, gaps.ItemRow]]:
    """The item in each perimeter assessed against its referential: coverage, controls and evidence, as the
    perimeter's gap list computes them (one computation for every page, so they cannot disagree)."""
    perimeters = session.exec(reach.only_reachable_perimeters(
        select(Perimeter).where(Perimeter.framework_id == framework.id), current_scope()).order_by(Perimeter.code)).all()
    today = request_today()
    standing = []
    for perimeter in perimeters:
        result = gaps.for_reader(gaps.compute_items(session, perimeter, {requirement.id}, today), current_user.role,
                                current_scope())
        row = next((r for r in result.rows if r.requirement.id == requirement.id), None)
        if row is not None:
            standing.append((perimeter, row))
    return standing
