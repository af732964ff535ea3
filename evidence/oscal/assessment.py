"""A perimeter's coverage as OSCAL assessment results.

One result, dated the day the rules were applied: an observation per item of the referential with the coverage
the team claims (covered, partly covered, not covered, followed or not, not applicable), the reason of every gap
in words and as codes, the evidence examined (back-matter resources, as in the SSP) and a manager's verdict or
waivers where there are some. The observations are the provider's claim, never the evaluation centre's conclusion:
the centre's own findings are the results' findings, each with its severity, its state and the provider's
response, targeting the item it was raised on.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

import evidence.oscal.catalog as catalog
import evidence.oscal.common as common
import evidence.oscal.ids as ids
import evidence.oscal.resources as resources
import evidence.oscal.ssp as ssp
from evidence.data.models import Finding, Framework, Perimeter, Requirement
from evidence.presentation import labels
from evidence.presentation.sovereignty_words import problem
from evidence.services import gaps

TITLE = _l("Résultats d’évaluation — %(code)s · %(name)s")
RESULT_TITLE = _l("Couverture du périmètre %(code)s au %(date)s")
RESULT_TEXT = _l("La couverture que l’équipe du prestataire déclare pour chaque point, calculée à partir de ses "
                 "mesures et de ses preuves : une observation par point. Ce n’est pas la conclusion du centre "
                 "d’évaluation, dont les constats sont les findings de ce résultat.")
PLAN = _l("Plan d’évaluation")
PLAN_REMARK = _l("Le plan d’évaluation est celui du centre d’évaluation ; cet outil ne le tient pas, et ces résultats "
                 "n’en importent aucun.")
VERDICT = _l("Verdict d’un responsable conformité : %(status)s. %(justification)s")
WAIVER = _l("Preuve attendue %(entry)s dispensée : %(justification)s")
FINDING_TITLE = _l("Constat n° %(number)s — %(severity)s")
WHOLE_PERIMETER = _l("Le périmètre %(code)s dans son ensemble")
RESPONSE = _l("Réponse du prestataire : %(text)s")


def build(session: Session, perimeter: Perimeter, *, organisation: str, lang: str, reader, today: date) -> dict:
    """The assessment results of `perimeter` on `today`, as `reader` may read them (call under force_locale(lang))."""
    framework = session.get(Framework, perimeter.framework_id)
    result = gaps.for_reader(gaps.compute(session, perimeter, today), getattr(reader, "role", None))  # evaluator: approved
    control_ids = catalog.framework_ids(session, framework)
    org = organisation.strip()
    provider = common.provider_party(organisation)
    centre = common.organisation_party(perimeter.evaluation_centre or str(common.ROLE_TITLES["assessor"]),
                                       organisation, "evaluation-centre")
    found = resources.evidence_resources(session, [line for row in result.rows for line in row.evidence], reader,
                                         organisation)
    observation_of = {row.requirement.ref: ids.derived("observation", org, perimeter.code, row.requirement.ref,
                                                       today.isoformat()) for row in result.rows}

    def observation(row: gaps.ItemRow) -> dict:
        ref, status = row.requirement.ref, row.status
        sentences = labels.gap_sentences(status, row.requirement, lang) + [problem(note) for note in status.notes]
        description = labels.text(labels.STATUS, status.status) + "."
        if sentences:
            description += "\n\n" + "\n".join(f"- {s}" for s in sentences)
        body = {"uuid": observation_of[ref], "title": f"{ref} · {labels.localised(row.requirement, 'title', lang)}",
                "description": description,
                "props": common.props(common.prop("item", control_ids[ref]), common.prop("coverage", status.status),
                                      common.prop("computed-coverage", status.computed),
                                      common.prop("applicability", row.applicability.state),
                                      *[common.prop("gap-reason", reason) for reason in status.reasons]),
                "methods": ["EXAMINE"], "types": ["control-objective"],
                "origins": [{"actors": [{"type": "party", "actor-uuid": provider["uuid"]}]}]}
        evidence = [{"href": f"#{found.uuid[e.ref]}",
                     "description": e.ref if e.ref in found.withheld else f"{e.ref} · {e.title}",
                     "props": common.props(common.prop("proof", "true" if e.is_proof else "false"))}
                    for e in row.evidence]
        common.put(body, "relevant-evidence", evidence)
        body["collected"] = common.day(today)
        remarks = []
        if row.verdict is not None:
            remarks.append(str(VERDICT) % {"status": labels.text(labels.STATUS, row.verdict.status),
                                           "justification": row.verdict.justification})
        remarks += [str(WAIVER) % {"entry": entry, "justification": waiver.justification}
                    for entry, waiver in sorted(row.waivers.items())]
        common.put(body, "remarks", "\n\n".join(r.strip() for r in remarks))
        return body

    findings = list(session.exec(
        select(Finding, Requirement.ref).outerjoin(Requirement, Requirement.id == Finding.requirement_id)
        .where(Finding.perimeter_id == perimeter.id).order_by(Finding.id)))
    readiness = result.readiness
    start = min(perimeter.evaluation_started_on or today, today)
    results = {
        "uuid": ids.derived("result", org, perimeter.code, today.isoformat()),
        "title": str(RESULT_TITLE) % {"code": perimeter.code, "date": today.isoformat()},
        "description": str(RESULT_TEXT), "start": common.day(start), "end": common.day(today),
        "props": common.props(common.prop("covered", readiness.covered), common.prop("applicable", readiness.applicable),
                              common.prop("readiness-percent", readiness.percent)),
        "reviewed-controls": {"control-selections": [{"include-all": {}}]},
    }
    common.put(results, "observations", [observation(row) for row in result.rows])
    common.put(results, "findings", [centre_finding(f, ref, perimeter, control_ids, observation_of, centre, org)
                                     for f, ref in findings])
    plan = {"uuid": ids.derived("resource", "assessment-plan", org, perimeter.code), "title": str(PLAN),
            "remarks": str(PLAN_REMARK)}
    waivers = [w.decided_at for row in result.rows for w in row.waivers.values()]
    verdicts = [row.verdict.decided_at for row in result.rows if row.verdict is not None]
    last_modified = common.latest([perimeter.updated_at, catalog.changed_at(session, framework), *found.dates,
                                   *waivers, *verdicts, *(f.updated_at for f, _ref in findings),
                                   datetime.combine(today, time(), tzinfo=timezone.utc)])
    parties = [provider] + ([centre] if perimeter.evaluation_centre or findings else [])
    body = {
        "metadata": common.metadata(
            str(TITLE) % {"code": perimeter.code, "name": perimeter.name}, last_modified, common.stamp(last_modified),
            parties, ["prepared-by", "assessor"],
            {"prepared-by": [provider["uuid"]], "assessor": [centre["uuid"]] if len(parties) > 1 else []},
            meta_props=[common.prop("framework", framework.key), common.prop("language", lang),
                        common.prop("system", ssp.system_uuid(org, perimeter.code))]),
        "import-ap": {"href": f"#{plan['uuid']}", "remarks": str(PLAN_REMARK)},
        "results": [results],
        "back-matter": {"resources": [plan, *found.resources]},
    }
    return common.sealed("assessment-results", body, org, perimeter.code, today.isoformat(), lang)


def finding_uuid(organisation: str, code: str, finding: Finding) -> str:
    """A finding has no natural name but its number in the perimeter: the same in the results and the POA&M."""
    return ids.derived("finding", organisation.strip(), code, finding.id)


def centre_finding(finding: Finding, ref, perimeter: Perimeter, control_ids: dict, observation_of: dict, centre: dict,
                   org: str) -> dict:
    """An evaluation centre's finding, targeting the item's statement (or the whole perimeter)."""
    if ref and ref in control_ids:
        target = {"type": "statement-id", "target-id": ids.statement_id(control_ids[ref]), "title": ref}
    else:
        target = {"type": "objective-id", "target-id": "perimeter",
                  "title": str(WHOLE_PERIMETER) % {"code": perimeter.code}}
    target["status"] = {"state": "satisfied" if finding.status == "closed" else "not-satisfied"}
    body = {"uuid": finding_uuid(org, perimeter.code, finding),
            "title": str(FINDING_TITLE) % {"number": finding.id, "severity": labels.text(labels.SEVERITY, finding.severity)},
            "description": common.text(finding.text, finding.severity),
            "props": common.props(common.prop("severity", finding.severity),
                                  common.prop("finding-status", finding.status),
                                  common.prop("raised-on", finding.raised_on and finding.raised_on.isoformat()),
                                  common.prop("due-date", finding.due_date and finding.due_date.isoformat())),
            "origins": [{"actors": [{"type": "party", "actor-uuid": centre["uuid"]}]}],
            "target": target}
    if ref in observation_of:
        body["related-observations"] = [{"observation-uuid": observation_of[ref]}]
    common.put(body, "remarks", str(RESPONSE) % {"text": finding.response.strip()} if finding.response.strip() else "")
    return body
