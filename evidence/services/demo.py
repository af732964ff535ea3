"""A fictional provider for newcomers and demonstrations (`evidence init --demo`).

The data lives in controls/demo/; this module turns it into users, perimeters, controls and evidence through
the same service functions the UI uses, so the demo carries a genuine audit trail and real stored files.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import yaml
from sqlmodel import Session, select

from evidence.catalogue.format import SAFE_LOADER
from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import ARCHITECTURE_DIAGRAM
from evidence.data.models import Evidence, Framework, Perimeter, Requirement
from evidence.services import controls as control_service
from evidence.services import demo_evaluation, notifications, perimeter_documents, waivers
from evidence.services import evidence as evidence_items
from evidence.services import findings as finding_service
from evidence.services import perimeters as perimeter_service
from evidence.services import users as auth
from evidence.settings import PACKAGE_DIR, resource_dir


def demo_file() -> Path:
    return resource_dir("controls") / "demo" / "nuage-souverain.yaml"


@dataclass
class DemoReport:
    users: int
    perimeters: int
    controls: int
    evidence: int
    password: str


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with the given lines of text (Latin-1), without pulling in a renderer."""
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text_ops = ["BT", "/F1 11 Tf", "14 TL", "56 780 Td"]
    for line in lines:
        text_ops.append(f"({escape(line.encode('latin-1', 'replace').decode('latin-1'))}) Tj T*")
    text_ops.append("ET")
    stream = "\n".join(text_ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _file_for(item: dict, ref_hint: str) -> tuple[bytes, str]:
    content = item.get("content", "").strip() or item["title"]
    slug = "".join(c if c.isalnum() else "-" for c in item["title"].lower())[:50].strip("-") or "preuve"
    fmt = item.get("format", "txt")
    header = f"{item['title']}\nNuage Souverain SAS — document de démonstration ({ref_hint})\n\n"
    if fmt == "pdf":
        return minimal_pdf((header + content).splitlines()), f"{slug}.pdf"
    if fmt == "csv":
        return (content + "\n").encode("utf-8"), f"{slug}.csv"
    if fmt == "md":
        return (f"# {item['title']}\n\n{content}\n").encode("utf-8"), f"{slug}.md"
    return (header + content + "\n").encode("utf-8"), f"{slug}.txt"


def _dates(item: dict, today: date, rng: random.Random) -> tuple[date, date]:
    effective = today - timedelta(days=int(item.get("age_days", 60)))
    valid_until = effective + timedelta(days=int(item.get("validity_days", 365)))
    state = item.get("state", "approved")
    if state == "expired":
        if valid_until >= today:
            valid_until = today - timedelta(days=rng.randint(3, 60))
    elif state == "expiring":
        valid_until = today + timedelta(days=rng.randint(3, 25))
    elif valid_until <= today + timedelta(days=30):  # anything else is meant to be comfortably valid
        valid_until = today + timedelta(days=rng.randint(45, 300))
    return effective, max(valid_until, effective)


def load_demo(session: Session, store, actor, today: date, path: Path | None = None) -> DemoReport:
    """Create the demo provider; refuses to run twice (its perimeters would already exist)."""
    data = yaml.load((path or demo_file()).read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    if session.exec(select(Perimeter).where(Perimeter.code.in_([p["code"] for p in data["perimeters"]]))).first():
        raise EvidenceError(N_("le prestataire de démonstration est déjà chargé"))
    framework = session.exec(select(Framework).where(Framework.assessed)).first()
    if framework is None:
        raise EvidenceError(N_("chargez d’abord le catalogue (evidence catalogue load)"))
    rng = random.Random(20221108)  # the demo is the same on every machine
    password = auth.generate_password()

    users = {}
    for spec in data["users"]:
        user = auth.find_user(session, spec["email"]) or auth.create_user(
            session, actor, spec["email"], spec["name"], spec["role"], password
        )
        users[user.email] = user
    managers = [u for u in users.values() if u.role == "manager"]

    perimeters = {}
    for spec in data["perimeters"]:
        perimeters[spec["code"]] = perimeter_service.create_perimeter(session, actor, perimeter_service.PerimeterData(
            code=spec["code"], name=spec["name"], description=spec.get("description", ""),
            service_types=tuple(spec["service_types"]), framework_key=framework.key,
            built_on_code=spec.get("built_on"), phase=spec.get("phase", "preparation"),
            evaluation_centre=spec.get("evaluation_centre", ""),
            qualification_reference=spec.get("qualification_reference", ""),
            **{name: spec.get(name, "") for name in perimeter_service.DESCRIPTION_FIELDS},
        ))

    requirements = {r.ref: r for r in session.exec(select(Requirement).where(Requirement.framework_id == framework.id))}
    controls = {}
    for spec in data["controls"]:
        owner = users[spec["owner"]]
        control = control_service.create_control(session, owner, control_service.ControlData(
            ref=spec["ref"], title=spec["title"], description=spec.get("description", ""),
            category=spec["category"], owner_id=owner.id, status=spec.get("status", "implemented"),
            perimeter_ids=[perimeters[code].id for code in spec.get("perimeters", [])],
        ))
        for mapping in spec.get("requirements", []):
            control_service.map_requirement(session, owner, control, requirements[mapping["ref"]], mapping.get("statement", ""))
        controls[control.ref] = control

    for n, item in enumerate(data["evidence"], start=1):
        owner = users[item["owner"]]
        effective, valid_until = _dates(item, today, rng)
        evidence_data = evidence_items.EvidenceData(
            title=item["title"], kind=item["kind"], description=item.get("description", ""), owner_id=owner.id,
            classification=item.get("classification", "internal"), effective_date=effective, valid_until=valid_until,
            control_ids=[controls[ref].id for ref in item.get("controls", [])],
            requirement_ids=[requirements[ref].id for ref in item.get("requirements", [])],
            perimeter_ids=[perimeters[code].id for code in item["perimeters"]] if "perimeters" in item else None,
            answers=list(item.get("answers", [])), document_version=item.get("document_version", ""),
            renewal=item.get("renewal", ""),
        )
        if item["kind"] == "link":
            evidence = evidence_items.create_evidence(session, owner, evidence_data, url=item["url"])
        else:
            content, filename = _file_for(item, f"EV-{n:04d}")
            evidence = evidence_items.create_evidence(
                session, owner, evidence_data, store=store, upload=io.BytesIO(content), filename=filename
            )
        state = item.get("state", "approved")
        if state == "draft":
            continue
        evidence_items.review(session, owner, evidence, "submit")
        if state == "in_review":
            continue
        reviewer = next(m for m in managers if m.id != owner.id)
        if state == "rejected":
            evidence_items.review(session, reviewer, evidence, "reject", "Document incomplet : signature de la direction absente.")
        else:
            evidence_items.review(session, reviewer, evidence, "approve")
    _load_statement(session, users, data, perimeters, requirements)
    _load_sovereignty(session, actor, data.get("sovereignty") or {}, perimeters, today)
    diagrams = _load_documents(session, store, users, data, perimeters, requirements, today)
    automated = _load_prowler(session, store, users, perimeters, today)
    _load_actions(session, users, data, perimeters, requirements, today)
    demo_evaluation.load_evaluation(session, users, data.get("evaluation") or {}, perimeters, requirements, controls,
                                    today)
    # The demo replays months of work in one go: its verdicts are history its people have read; what their
    # inbox shows unread is what still waits (reviews asked of them, findings on their controls).
    notifications.mark_kinds_read(session, ("evidence_approved", "evidence_rejected"))
    return DemoReport(len(users), len(perimeters), len(controls), len(data["evidence"]) + diagrams + automated,
                      password)


def _load_documents(session: Session, store, users: dict, data: dict, perimeters: dict, requirements: dict,
                    today: date) -> int:
    """Each perimeter's reference documents, designated by the RSSI from its evidence (named by title), and its
    architecture diagram: a PNG drawn now, stored as an approved evidence valid for the perimeter alone. The number
    of diagrams made (they are evidence items too)."""
    managers = [u for u in users.values() if u.role == "manager"]
    rssi, reviewer = managers[0], managers[1]
    by_title = {e.title: e for e in session.exec(select(Evidence))}
    made = 0
    for spec in data["perimeters"]:
        perimeter = perimeters[spec["code"]]
        diagram = spec.get("diagram")
        if diagram:
            owner = users.get(diagram.get("owner", ""), rssi)
            evidence = evidence_items.create_evidence(session, owner, evidence_items.EvidenceData(
                title=diagram["title"], kind="report", owner_id=owner.id, classification="restricted",
                description="Zones, chemins d'administration et interconnexions du périmètre, tels que la "
                            "cartographie les décrit.",
                effective_date=today - timedelta(days=30), valid_until=today + timedelta(days=335),
                requirement_ids=[requirements[ref].id for ref in diagram.get("requirements", [])],
                perimeter_ids=[perimeter.id], document_version="1.0",
            ), store=store, upload=io.BytesIO(architecture_png(diagram)), filename=f"architecture-{perimeter.code}.png")
            evidence_items.review(session, owner, evidence, "submit")
            evidence_items.review(session, reviewer if owner.id != reviewer.id else rssi, evidence, "approve")
            perimeter_documents.designate(session, rssi, perimeter, ARCHITECTURE_DIAGRAM, evidence, store=store)
            made += 1
        for role, designation in (spec.get("documents") or {}).items():
            perimeter_documents.designate(session, rssi, perimeter, role, by_title[designation["evidence"]],
                                          designation.get("note", ""), store=store)
    return made


def _load_actions(session: Session, users: dict, data: dict, perimeters: dict, requirements: dict, today: date) -> None:
    """The action plan on some gaps, each planned by the manager named, through the service the page calls."""
    for spec in data.get("actions") or []:
        finding_service.save_action(session, users[spec["by"]], perimeters[spec["perimeter"]], finding_service.ActionData(
            title=spec["title"], description=spec.get("description", ""), owner_id=users[spec["owner"]].id,
            due_date=today + timedelta(days=int(spec["due_days"])), status=spec.get("status", "open"),
            requirement_ids=[requirements[ref].id for ref in spec.get("requirements", [])],
            residual_risk=spec.get("residual_risk", ""),
        ))


# --- automated evidence: a Prowler scan of the perimeter's Azure subscription --------------------------------

PROWLER_PERIMETER = "iaas-fr1"


def prowler_demo_file() -> Path:
    """The committed Azure fixture (tests/fixtures/prowler/make_fixtures.py writes it with Prowler's own code)."""
    return resource_dir("controls") / "demo" / "prowler-iaas-fr1-azure.ocsf.json"


def _load_prowler(session: Session, store, users: dict, perimeters: dict, today: date) -> int:
    """The perimeter's Prowler results as automated evidence, through the collection service, each approved once
    by a manager who did not collect it (later runs keep that approval). The scan is dated the day before
    `today`, as the demo's other dates are, so that its results are fresh: the fixture's own dates are moved by
    the same amount in every finding. The number of automated evidence made."""
    from evidence.collectors import prowler
    from evidence.services import collection

    managers = [u for u in users.values() if u.role == "manager"]
    collector, reviewer = managers[0], managers[1]
    scanned = datetime.combine(today - timedelta(days=1), time(6, 30), timezone.utc)
    path = prowler_demo_file()
    report = prowler.read(path, _restamped(path.read_bytes(), scanned), path.name)
    grouped = prowler.group(report)
    result = collection.record_collected(session, collector, perimeters[PROWLER_PERIMETER], prowler.NAME,
                                         report.source, grouped.collected, store=store, today=today)
    for line in result.lines:
        evidence_items.review(session, reviewer, evidence_items.get_evidence(session, line.ref), "approve")
    return result.created


def _restamped(content: bytes, scanned: datetime) -> bytes:
    """An OCSF report whose findings are moved in time so that the latest is `scanned` (naive ISO times, as
    Prowler writes them, stay naive)."""
    import json

    records = json.loads(content)
    latest = max(datetime.fromtimestamp(r["time"], timezone.utc) for r in records)
    shift = scanned - latest
    for record in records:
        for holder, epoch, iso in ((record, "time", "time_dt"), (record.get("finding_info", {}), "created_time",
                                                                  "created_time_dt")):
            if epoch in holder:
                holder[epoch] = int(holder[epoch] + shift.total_seconds())
            if iso in holder:
                holder[iso] = (datetime.fromisoformat(holder[iso]) + shift).isoformat()
    return json.dumps(records, indent=4, ensure_ascii=False).encode("utf-8")


# --- the architecture diagrams --------------------------------------------------------------------------------


def architecture_png(spec: dict) -> bytes:
    """A perimeter's architecture diagram as a PNG: a box per zone with its lines, then the administration path
    and the interconnections. The same spec gives the same bytes (no date or other metadata in the file)."""
    from PIL import Image, ImageDraw

    zones, links = spec.get("zones", []), spec.get("links", [])
    width, margin, gap, box_height = 1600, 40, 24, 170
    columns = max(1, min(4, len(zones)))
    box_width = (width - 2 * margin - (columns - 1) * gap) // columns
    rows = (len(zones) + columns - 1) // columns
    height = margin + 60 + rows * (box_height + gap) + 70 + 36 * len(links) + margin + 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    title, bold, text = _font(30, bold=True), _font(21, bold=True), _font(19)
    ink, line, zone_fill, admin_fill = (31, 41, 55), (71, 85, 105), (238, 242, 247), (254, 243, 199)
    draw.text((margin, margin), spec.get("title", ""), font=title, fill=ink)
    top = margin + 60
    for n, zone in enumerate(zones):
        x = margin + (n % columns) * (box_width + gap)
        y = top + (n // columns) * (box_height + gap)
        admin = "admin" in zone["name"].lower()
        draw.rounded_rectangle((x, y, x + box_width, y + box_height), radius=12, outline=line, width=3,
                               fill=admin_fill if admin else zone_fill)
        draw.text((x + 16, y + 14), zone["name"], font=bold, fill=ink)
        for k, entry in enumerate(zone.get("lines", [])):
            draw.text((x + 16, y + 56 + 30 * k), "• " + entry, font=text, fill=ink)
    y = top + rows * (box_height + gap) + 10
    if spec.get("admin"):
        draw.rounded_rectangle((margin, y, width - margin, y + 48), radius=10, outline=(180, 83, 9), width=3,
                               fill=admin_fill)
        draw.text((margin + 16, y + 12), "Chemin d'administration : " + spec["admin"], font=text, fill=ink)
        y += 70
    draw.text((margin, y), "Interconnexions", font=bold, fill=ink)
    for k, entry in enumerate(links):
        draw.text((margin + 16, y + 36 + 36 * k), "• " + entry, font=text, fill=ink)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=9)
    return out.getvalue()


def _font(size: int, bold: bool = False):
    """The DejaVu font the product ships (accents and arrows), or Pillow's own when it is missing."""
    from PIL import ImageFont

    path = PACKAGE_DIR / "static" / "fonts" / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size)


def _load_statement(session: Session, users: dict, data: dict, perimeters: dict, requirements: dict) -> None:
    """The managers' decisions: applicability (a conditional item that does not apply, inherited items), waived
    entries and verdicts, each by the manager named, through the services the pages call."""
    for spec in data.get("applicability") or []:
        perimeter_service.set_applicability(session, users[spec["by"]], perimeters[spec["perimeter"]],
                                            requirements[spec["ref"]], spec["state"], spec["justification"])
    for spec in data.get("waivers") or []:
        waivers.set_waiver(session, users[spec["by"]], perimeters[spec["perimeter"]], requirements[spec["entry"].split("#")[0]],
                           spec["entry"], spec["justification"])
    for spec in data.get("verdicts") or []:
        perimeter_service.set_verdict(session, users[spec["by"]], perimeters[spec["perimeter"]], requirements[spec["ref"]],
                                      spec["status"], spec["justification"])


def _load_sovereignty(session: Session, actor, data: dict, perimeters: dict, today: date) -> None:
    """The chapter-19 registers, through the services' validation; only the last step is a change customers must
    hear of (the other dated changes are history, with the day they were told)."""
    from dataclasses import replace

    from evidence.services import sovereignty

    for seat in data.get("seats", []):
        sovereignty.set_seat(session, actor, seat["kind"], seat["country"], seat.get("city", ""), seat.get("address", ""),
                             today=today, notify=False)
    for holder in data.get("shareholders", []):
        sovereignty.save_holder(session, actor, sovereignty.HolderData(
            name=holder["name"], country=holder["country"], capital=holder["capital"], voting=holder["voting"],
            kind=holder.get("kind", "direct"), notes=holder.get("notes", "")), today=today, notify=False)
    third_parties = {}
    for sub in data.get("subcontractors", []):
        parent = sub.get("parent") or {}
        third_parties[sub["name"]] = sovereignty.SubcontractorData(
            name=sub["name"], country=sub["country"], service=sub.get("service", ""), data_access=sub["data_access"],
            technical_data_access=sub.get("technical_data_access"), access_justification=sub.get("access_justification", ""),
            qualified=sub.get("qualified", False), qualification_decision=sub.get("qualification_decision", ""),
            qualification_date=sub.get("qualification_date"), contract_ref=sub.get("contract_ref", ""),
            parent_name=parent.get("name", ""), parent_country=parent.get("country", ""),
            parent_capital=parent.get("capital", "0"), parent_voting=parent.get("voting", "0"),
            largest_other_voting=parent.get("largest_other", "0"), own_skills=sub.get("own_skills", False),
            alternatives=sub.get("alternatives", ()), autonomy_arrangements=sub.get("autonomy_arrangements", ""),
            perimeter_ids=tuple(perimeters[code].id for code in sub.get("perimeters", [])))
        sovereignty.save_subcontractor(session, actor, third_parties[sub["name"]], today=today, notify=False)
    links = data.get("foreign_links") or {}
    if links.get("none_declared_by"):
        sovereignty.declare_no_foreign_links(session, auth.find_user(session, links["none_declared_by"]) or actor,
                                             links.get("statement", ""), today=today)
    for change in data.get("changes", []):
        recorded = sovereignty.save_change(session, actor, sovereignty.ChangeData(
            kind=change["kind"], changed_on=today - timedelta(days=int(change["changed_days_ago"])),
            description=change["description"], perimeter_ids=tuple(perimeters[c].id for c in change.get("perimeters", []))))
        for notice in change.get("notices", []):
            sovereignty.add_notice(session, actor, recorded, perimeters.get(notice.get("perimeter")),
                                   today - timedelta(days=int(notice["sent_days_ago"])), notice.get("means", ""), today=today)
    for code, places in data.get("localisation", {}).items():
        perimeter = perimeters[code]
        for site in places.get("sites", []):
            sovereignty.add_site(session, actor, perimeter, site["kind"], site.get("city", ""), site["country"],
                                 name=site.get("name", ""), role=site.get("role", ""))
        for category, country in places.get("data", {}).items():
            for activity in ("stored", "processed"):
                sovereignty.add_data_location(session, actor, perimeter, category, activity, country, today=today, notify=False)
        for operation in places.get("operations", []):
            sovereignty.add_operation(session, actor, perimeter, operation["operation"], operation["country"],
                                      operation.get("allowed_operations", ""), today=today, notify=False)
    # Today's change, through the register like any other: the observability provider now sees customer data, so
    # the change is recorded and the 19.6.f action planned (its customers are still to be told, within a month).
    telemetrix = next((s for s in sovereignty.registers(session, perimeters["saas-collab"]).subcontractors
                       if s.name == "Telemetrix Inc."), None)
    if telemetrix is not None:
        sovereignty.save_subcontractor(session, actor, replace(
            third_parties[telemetrix.name], data_access=True,
            access_justification="Traces applicatives complètes, contenu des requêtes compris."), telemetrix, today=today)
