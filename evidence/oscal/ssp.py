"""A perimeter as an OSCAL system security plan.

The perimeter is the system (its description, service types, phase and qualification), its lower layer a
component of type `system` and, once qualified, a leveraged authorisation; the controls deployed in it are its
components. Every item of the referential has an implemented requirement: the statement of each control mapped to
it (by component, with the control's state as implementation status and the evidence that proves it as links to
back-matter resources with their SHA-256), the lower layer's for an inherited item, and for an item that does not
apply the reason (the referential's limit, or a manager's justification) as `not-applicable`.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

import evidence.oscal.catalog as catalog
import evidence.oscal.common as common
import evidence.oscal.ids as ids
import evidence.oscal.resources as resources
from evidence.core import rules
from evidence.data.models import (
    Applicability,
    Control,
    ControlPerimeter,
    Evidence,
    EvidenceControl,
    EvidenceRequirement,
    Framework,
    Perimeter,
    Requirement,
    User,
)
from evidence.presentation import labels
from evidence.services import gaps

COMPONENT_TYPES = {"organisational": "policy", "procedural": "process-procedure", "technical": "software",
                   "physical": "physical"}
COMPONENT_STATES = {"planned": "under-development", "in_progress": "under-development", "implemented": "operational",
                    "retired": "disposition"}
IMPLEMENTATION = {"implemented": "implemented", "in_progress": "partial", "planned": "planned"}  # retired: none
OPERATING_PHASES = ("qualified", "surveillance")

TITLE = _l("Plan de sécurité du système — %(code)s · %(name)s")
CUSTOMER_DATA = _l("Données des commanditaires")
CUSTOMER_DATA_TEXT = _l("Les informations que les commanditaires confient au service. SecNumCloud ne les catégorise "
                        "pas par niveaux d’impact (FIPS 199) : cet outil ne tient pas ces niveaux.")
BOUNDARY = _l("Le périmètre soumis à la qualification SecNumCloud : %(name)s.")
OUT_OF_SCOPE = _l("Hors périmètre : %(text)s")
PHASE_REMARK = _l("Phase de qualification : %(phase)s.")
IMPLEMENTATION_TEXT = _l("La mise en œuvre du référentiel %(framework)s dans le périmètre %(code)s : chaque point, "
                         "qu’il s’applique ou non, avec les mesures qui y répondent et les preuves qui les étayent.")
NO_STATEMENT = _l("Aucune déclaration de mise en œuvre pour ce point.")
NO_CONTROL = _l("Aucune mesure déployée dans le périmètre n’est associée à ce point.")
INHERITED = _l("Hérité du socle %(code)s · %(name)s, dont il prend la couverture.")
CATALOG = _l("Le catalogue %(framework)s (export OSCAL de l’instance)")
PROFILE_REMARK = _l("Aucun profil OSCAL ne sélectionne les exigences : le plan désigne directement le catalogue, "
                    "dont il reprend les identifiants de contrôle.")


def system_uuid(organisation: str, code: str) -> str:
    return ids.derived("component", organisation.strip(), "perimeter", code)


def system_status(perimeter: Perimeter) -> dict:
    if perimeter.phase in OPERATING_PHASES:
        return {"state": "operational"}
    return {"state": "other", "remarks": str(PHASE_REMARK) % {"phase": labels.text(labels.PHASE, perimeter.phase)}}


def catalog_path(code: str) -> str:
    """The perimeter's catalog download (web/oscal.py's route), which the plan imports in place of a profile."""
    return f"/perimeters/{code}/oscal.json?model=catalog"


def build(session: Session, perimeter: Perimeter, *, organisation: str, lang: str, reader, today: date) -> dict:
    """The SSP of `perimeter` as `reader` may read it (call under force_locale(lang))."""
    framework = session.get(Framework, perimeter.framework_id)
    result = gaps.for_reader(gaps.compute(session, perimeter, today), getattr(reader, "role", None))  # evaluator: approved
    control_ids = catalog.framework_ids(session, framework)
    lower = session.get(Perimeter, perimeter.built_on_id) if perimeter.built_on_id else None
    org = organisation.strip()
    provider = common.provider_party(organisation)
    deployed = sorted(session.exec(  # sorted here: databases compare text differently
        select(Control, User).join(ControlPerimeter, ControlPerimeter.control_id == Control.id)
        .outerjoin(User, User.id == Control.owner_id)
        .where(ControlPerimeter.perimeter_id == perimeter.id)), key=lambda pair: pair[0].ref)
    owners = {user.id: common.person_party(user, organisation) for _control, user in deployed if user is not None}
    lines = [line for row in result.rows for line in row.evidence]
    found = resources.evidence_resources(session, lines, reader, organisation)
    evidence_controls, direct = _evidence_links(session, sorted(found.uuid))

    this_system = system_uuid(org, perimeter.code)
    components = [{"uuid": this_system, "type": "this-system", "title": perimeter.name,
                   "description": common.text(perimeter.description, perimeter.name), "status": system_status(perimeter)}]
    authorisations, lower_uuid, authorisation_uuid = [], None, None
    if lower is not None:
        lower_uuid = ids.derived("component", org, "lower-layer", perimeter.code, lower.code)
        if lower.qualified_on:
            authorisation_uuid = ids.derived("leveraged-authorization", org, perimeter.code, lower.code)
            authorisation = {"uuid": authorisation_uuid, "title": f"{lower.code} · {lower.name}"}
            common.put(authorisation, "props", common.props(
                common.prop("qualification-reference", lower.qualification_reference)))
            authorisations.append({**authorisation, "party-uuid": provider["uuid"],
                                   "date-authorized": lower.qualified_on.isoformat()})
        components.append({
            "uuid": lower_uuid, "type": "system", "title": f"{lower.code} · {lower.name}",
            "description": common.text(lower.description, lower.name),
            "props": common.props(common.prop("leveraged-authorization-uuid", authorisation_uuid, ns=None),
                                  common.prop("implementation-point", "external", ns=None),
                                  common.prop("inherited-uuid", system_uuid(org, lower.code), ns=None),
                                  common.prop("phase", lower.phase)),
            "status": system_status(lower)})
    component_of = {}
    for control, owner in deployed:
        component_of[control.ref] = ids.derived("component", org, "control", control.ref)
        component = {"uuid": component_of[control.ref], "type": COMPONENT_TYPES.get(control.category, "process-procedure"),
                     "title": f"{control.ref} · {control.title}", "description": common.text(control.description, control.title),
                     "props": common.props(common.prop("control-ref", control.ref), common.prop("category", control.category),
                                           common.prop("control-status", control.status),
                                           common.prop("last-reviewed", control.last_reviewed_on and control.last_reviewed_on.isoformat())),
                     "status": {"state": COMPONENT_STATES.get(control.status, "other")}}
        if owner is not None:
            component["responsible-roles"] = [{"role-id": "control-owner", "party-uuids": [owners[owner.id]["uuid"]]}]
        components.append(component)

    def implemented(row: gaps.ItemRow) -> dict:
        ref = row.requirement.ref
        state = row.applicability.state
        body = {"uuid": ids.derived("implemented-requirement", org, perimeter.code, ref), "control-id": control_ids[ref],
                "props": common.props(common.prop("applicability", state),
                                      common.prop("applicability-basis", row.applicability.basis))}
        by_components, shown = [], set()  # shown: evidence linked from a by-component
        if state == rules.NOT_APPLICABLE:
            reason = " ".join(t for t in (labels.basis(row.applicability), row.applicability.justification) if t)
            by_components.append({"component-uuid": this_system, "uuid": ids.derived("by-component", org, perimeter.code, ref, "this-system"),
                                  "description": common.text(reason, labels.APPLICABILITY["not_applicable"]),
                                  "implementation-status": common.put({"state": "not-applicable"}, "remarks",
                                                                      row.applicability.justification)})
        elif row.lower is not None and lower_uuid:
            words = str(INHERITED) % {"code": row.lower.code, "name": row.lower.name}
            by_component = {"component-uuid": lower_uuid, "uuid": ids.derived("by-component", org, perimeter.code, ref, "lower-layer"),
                            "description": words}
            common.put(by_component, "props", common.props(common.prop("leveraged-authorization-uuid", authorisation_uuid, ns=None)))
            by_component["inherited"] = [{"uuid": ids.derived("inherited", org, perimeter.code, ref),
                                          "description": common.text(row.applicability.justification, words)}]
            by_components.append(by_component)
        else:
            for line in sorted(row.controls, key=lambda c: c.ref):
                if line.ref not in component_of or line.status not in IMPLEMENTATION:
                    continue  # a retired control answers nothing any more
                by_component = {"component-uuid": component_of[line.ref],
                                "uuid": ids.derived("by-component", org, perimeter.code, ref, line.ref),
                                "description": common.text(line.statement, NO_STATEMENT)}
                proving = [e for e in row.evidence if line.ref in evidence_controls.get(e.ref, ())]
                common.put(by_component, "links", [found.link(e.ref, e.answers) for e in proving])
                shown.update(e.ref for e in proving if e.ref not in direct.get(ref, ()))
                by_component["implementation-status"] = {"state": IMPLEMENTATION[line.status]}
                by_components.append(by_component)
        # Evidence linked to the item itself, or proving a control that no by-component shows, or the lower layer's.
        common.put(body, "links", [found.link(e.ref, e.answers) for e in row.evidence if e.ref not in shown])
        common.put(body, "by-components", by_components)
        if state != rules.NOT_APPLICABLE and not by_components:
            body["remarks"] = str(NO_CONTROL)
        elif state == rules.APPLICABLE and row.applicability.justification:
            body["remarks"] = row.applicability.justification
        return body

    catalog_resource = {"uuid": ids.derived("resource", "catalog", org, perimeter.code, framework.key),
                        "title": str(CATALOG) % {"framework": " ".join(p for p in (framework.name, framework.version) if p)},
                        "rlinks": [{"href": catalog_path(perimeter.code), "media-type": "application/oscal.catalog+json"}]}
    decisions = session.exec(select(Applicability.updated_at).where(Applicability.perimeter_id == perimeter.id))
    last_modified = common.latest([perimeter.updated_at, lower.updated_at if lower else None,
                                   catalog.changed_at(session, framework), *decisions, *found.dates,
                                   *(control.updated_at for control, _owner in deployed)])
    characteristics = {
        "system-ids": [{"identifier-type": f"{ids.NS}:perimeter", "id": perimeter.code}],
        "system-name": perimeter.name, "system-name-short": perimeter.code,
        "description": common.text(perimeter.description, perimeter.name),
        "props": common.props(*[common.prop("service-type", t) for t in perimeter.service_types or ()],
                              common.prop("phase", perimeter.phase),
                              common.prop("evaluation-centre", perimeter.evaluation_centre),
                              common.prop("qualification-reference", perimeter.qualification_reference),
                              *[common.prop(name.replace("_", "-"), getattr(perimeter, name).isoformat())
                                for name in ("request_filed_on", "evaluation_started_on", "qualification_expires_on",
                                             "next_surveillance_on") if getattr(perimeter, name)]),
    }
    common.put(characteristics, "date-authorized", perimeter.qualified_on and perimeter.qualified_on.isoformat())
    characteristics["system-information"] = {"information-types": [{
        "uuid": ids.derived("information-type", org, perimeter.code, "customer-data"),
        "title": str(CUSTOMER_DATA), "description": str(CUSTOMER_DATA_TEXT)}]}
    characteristics["status"] = system_status(perimeter)
    boundary = str(BOUNDARY) % {"name": perimeter.name}
    if perimeter.out_of_scope.strip():
        boundary += "\n\n" + str(OUT_OF_SCOPE) % {"text": perimeter.out_of_scope.strip()}
    characteristics["authorization-boundary"] = {"description": boundary}
    if perimeter.interconnections.strip():
        characteristics["network-architecture"] = {"description": perimeter.interconnections.strip()}
    common.put(characteristics, "remarks", "\n\n".join(
        f"### {labels.DESCRIPTION[name]}\n\n{getattr(perimeter, name).strip()}" for name in ("service_offer", "customers", "administration")
        if getattr(perimeter, name).strip()))

    implementation = {}
    common.put(implementation, "leveraged-authorizations", authorisations)
    implementation["components"] = components
    body = {
        "metadata": common.metadata(
            str(TITLE) % {"code": perimeter.code, "name": perimeter.name}, last_modified, common.stamp(last_modified),
            [provider, *owners.values()], ["prepared-by", "system-owner", "control-owner"],
            {"prepared-by": [provider["uuid"]], "system-owner": [provider["uuid"]]},
            meta_props=[common.prop("framework", framework.key), common.prop("language", lang)]),
        "import-profile": {"href": f"#{catalog_resource['uuid']}", "remarks": str(PROFILE_REMARK)},
        "system-characteristics": characteristics,
        "system-implementation": implementation,
        "control-implementation": {
            "description": str(IMPLEMENTATION_TEXT) % {"framework": framework.name, "code": perimeter.code},
            "implemented-requirements": [implemented(row) for row in result.rows]},
        "back-matter": {"resources": [catalog_resource, *found.resources]},
    }
    return common.sealed("system-security-plan", body, org, perimeter.code, lang)


def _evidence_links(session: Session, refs: list[str]) -> tuple[dict, dict]:
    """evidence ref → refs of the controls it proves, and item ref → refs of the evidence linked to the item itself."""
    by_control, direct = defaultdict(set), defaultdict(set)
    if not refs:
        return by_control, direct
    for evidence_ref, control_ref in session.exec(
            select(Evidence.ref, Control.ref).join(EvidenceControl, EvidenceControl.evidence_id == Evidence.id)
            .join(Control, Control.id == EvidenceControl.control_id).where(Evidence.ref.in_(refs))):
        by_control[evidence_ref].add(control_ref)
    for evidence_ref, item_ref in session.exec(
            select(Evidence.ref, Requirement.ref).join(EvidenceRequirement, EvidenceRequirement.evidence_id == Evidence.id)
            .join(Requirement, Requirement.id == EvidenceRequirement.requirement_id).where(Evidence.ref.in_(refs))):
        direct[item_ref].add(evidence_ref)
    return by_control, direct
