"""Prowler's SecNumCloud 3.2 results as automated evidence: its OCSF JSON or its compliance CSV, read and grouped.

Prowler (an open-source cloud scanner) writes its findings as OCSF Detection Findings (`*.ocsf.json`: a list,
class_uid 2004, `status_code` PASS/FAIL/MANUAL, muted ones with `status` "Suppressed", the SecNumCloud requirement
ids in `unmapped.compliance["SecNumCloud-3.2"]`) and, per framework, a `;`-separated compliance CSV
(`..._secnumcloud_3.2_aws|azure|gcp.csv`: one row per finding and requirement, REQUIREMENTS_ID, STATUS, MUTED,
RESOURCEID, CHECKID, plus MANUAL rows for the requirements without checks). Either is read whole and checked
before anything is written (a bad record names the file and the record or line); the findings are grouped by
Prowler's requirement id ("10.1"), and each group becomes one `Collected` whose file is that group's slice of the
report (the same records, in the same format) so that an evaluator can check the result; what it answers comes
from controls/data/prowler-secnumcloud-3.2.yaml. The product never imports Prowler.
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from evidence.collectors import Collected, CollectedFile, Counts, Failing, result_of
from evidence.core.errors import N_, EvidenceError, Message

NAME = "prowler"
COMPLIANCE_KEY = "SecNumCloud-3.2"  # the framework's key in an OCSF finding's unmapped.compliance
PROVIDERS = {"aws": "AWS", "azure": "Azure", "gcp": "Google Cloud"}  # those with a SecNumCloud 3.2 framework
STATUSES = ("PASS", "FAIL", "MANUAL")
CSV_COLUMNS = ("PROVIDER", "ASSESSMENTDATE", "REQUIREMENTS_ID", "STATUS", "STATUSEXTENDED", "RESOURCEID", "CHECKID",
               "MUTED", "RESOURCENAME", "FRAMEWORK")
OCSF, CSV = "ocsf", "csv"

NOT_A_REPORT = N_("%(file)s : ni un JSON OCSF de Prowler (*.ocsf.json) ni un CSV de conformité SecNumCloud 3.2 de "
                  "Prowler (séparé par des « ; »)")
AT_RECORD = N_("%(file)s, constat n° %(record)s : %(problem)s")
AT_LINE = N_("%(file)s, ligne %(line)s : %(problem)s")
UNKNOWN_STATUS = N_("statut « %(status)s » inconnu (PASS, FAIL ou MANUAL attendus)")
BAD_DATE = N_("date « %(value)s » illisible")


def source_of(provider: str) -> str:
    """The Prowler framework a provider's results come from: the evidence's source ("secnumcloud_3.2_azure")."""
    return f"secnumcloud_3.2_{provider}"


@dataclass(frozen=True)
class Finding:
    """One Prowler result on one resource, with the SecNumCloud requirements it counts for and its raw form."""

    requirements: tuple[str, ...]
    check: str
    status: str  # PASS | FAIL | MANUAL
    muted: bool
    resource: str
    resource_name: str
    status_text: str
    time: datetime
    raw: Any  # the OCSF record (a dict) or the CSV row (a list of the header's columns)


@dataclass
class ProwlerReport:
    """A Prowler report read whole: its format, provider, the CSV's header, and its SecNumCloud findings."""

    name: str
    format: str  # ocsf | csv
    provider: str
    findings: list[Finding]
    header: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return source_of(self.provider)

    def groups(self) -> dict[str, list[Finding]]:
        """Prowler requirement id -> its findings, in the report's order (ids in the referential's order)."""
        found = defaultdict(list)
        for finding in self.findings:
            for requirement in finding.requirements:
                found[requirement].append(finding)
        return {key: found[key] for key in sorted(found, key=_requirement_order)}


def _requirement_order(requirement: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in requirement.split("."))


def _refuse(message: str, **params) -> EvidenceError:
    return EvidenceError(message, **params, field="file")


def _aware(value, problem_at) -> datetime:
    """An ISO date-time or an epoch as an aware datetime. Prowler writes its scan time without a zone (the
    scanning machine's clock) in both formats: it is taken as UTC, the same way in both, so that the OCSF and the
    CSV of one scan give one run time."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, timezone.utc)
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError, OSError):
        raise problem_at(Message(BAD_DATE, value=str(value)[:40])) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --- reading -----------------------------------------------------------------------------------------------------


def read(path: Path, content: Optional[bytes] = None, name: str = "") -> ProwlerReport:
    """The report at `path` (or `content`, named `name`), whichever of Prowler's two formats it is."""
    name = name or Path(path).name
    data = Path(path).read_bytes() if content is None else content
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse(N_("%(file)s : ce n’est pas du texte UTF-8"), file=name) from None
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        report = _read_ocsf(name, text)
    elif stripped.split("\n", 1)[0].count(";") and "REQUIREMENTS_ID" in stripped.split("\n", 1)[0]:
        report = _read_csv(name, text)
    else:
        raise _refuse(NOT_A_REPORT, file=name)
    if not report.findings:
        raise _refuse(N_("%(file)s : aucun résultat SecNumCloud 3.2 (AWS, Azure ou Google Cloud) dans ce rapport"),
                      file=name)
    return report


def _read_ocsf(name: str, text: str) -> ProwlerReport:
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise _refuse(AT_LINE, file=name, line=error.lineno, problem=Message(N_("JSON illisible (%(error)s)"),
                                                                             error=error.msg)) from None
    if not isinstance(records, list):
        raise _refuse(N_("%(file)s : un JSON OCSF de Prowler est une liste de constats (Detection Finding)"), file=name)
    findings, providers = [], set()
    for number, record in enumerate(records, start=1):
        def problem_at(problem, number=number):
            return _refuse(AT_RECORD, file=name, record=number, problem=problem)

        if not isinstance(record, dict) or record.get("class_uid") != 2004:
            raise problem_at(Message(N_("ce n’est pas un constat OCSF Detection Finding (class_uid 2004)")))
        unmapped = record.get("unmapped") if isinstance(record.get("unmapped"), dict) else {}
        compliance = unmapped.get("compliance") if isinstance(unmapped.get("compliance"), dict) else {}
        requirements = compliance.get(COMPLIANCE_KEY) or []
        if not isinstance(requirements, list) or not all(isinstance(r, str) and r for r in requirements):
            raise problem_at(Message(N_("exigences SecNumCloud illisibles (unmapped.compliance)")))
        if not requirements:
            continue  # a check SecNumCloud does not use
        status = record.get("status_code")
        if status not in STATUSES:
            raise problem_at(Message(UNKNOWN_STATUS, status=str(status)[:20]))
        check = (record.get("metadata") or {}).get("event_code") if isinstance(record.get("metadata"), dict) else None
        if not isinstance(check, str) or not check:
            raise problem_at(Message(N_("identifiant du contrôle (metadata.event_code) manquant")))
        provider = unmapped.get("provider") or (record.get("cloud") or {}).get("provider")
        if provider not in PROVIDERS:
            raise problem_at(Message(N_("fournisseur « %(provider)s » sans référentiel SecNumCloud 3.2 chez Prowler "
                                        "(aws, azure ou gcp attendus)"), provider=str(provider)[:30]))
        providers.add(provider)
        info = record.get("finding_info") if isinstance(record.get("finding_info"), dict) else {}
        when = next((v for v in (info.get("created_time_dt"), record.get("time_dt"), record.get("time"),
                                 info.get("created_time")) if v not in (None, "")), None)
        if when is None:
            raise problem_at(Message(N_("date du constat (time) manquante")))
        resources = record.get("resources") if isinstance(record.get("resources"), list) else []
        resource = resources[0] if resources and isinstance(resources[0], dict) else {}
        findings.append(Finding(
            tuple(dict.fromkeys(requirements)), check, status,
            record.get("status") == "Suppressed" or bool(unmapped.get("muted")),
            str(resource.get("uid") or resource.get("name") or ""), str(resource.get("name") or ""),
            str(record.get("status_detail") or record.get("message") or ""), _aware(when, problem_at), record))
    return ProwlerReport(name, OCSF, _one_provider(name, providers), findings)


def _read_csv(name: str, text: str) -> ProwlerReport:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    try:
        header = tuple(next(reader))
    except (StopIteration, csv.Error):
        raise _refuse(NOT_A_REPORT, file=name) from None
    if missing := [c for c in CSV_COLUMNS if c not in header]:
        raise _refuse(AT_LINE, file=name, line=1, problem=Message(N_("colonnes manquantes : %(columns)s"),
                                                                  columns=", ".join(missing)))
    at = {column: header.index(column) for column in CSV_COLUMNS}
    findings, providers = [], set()
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise _refuse(AT_LINE, file=name, line=reader.line_num, problem=Message(N_("CSV illisible (%(error)s)"),
                                                                                    error=str(error))) from None
        line = reader.line_num

        def problem_at(problem, line=line):
            return _refuse(AT_LINE, file=name, line=line, problem=problem)

        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise problem_at(Message(N_("%(found)s colonnes au lieu de %(expected)s"), found=len(row),
                                     expected=len(header)))
        value = {column: row[index].strip() for column, index in at.items()}
        if value["FRAMEWORK"] != "SecNumCloud":
            raise problem_at(Message(N_("référentiel « %(framework)s » : ce n’est pas le CSV de SecNumCloud 3.2"),
                                     framework=value["FRAMEWORK"][:40]))
        if value["STATUS"] not in STATUSES:
            raise problem_at(Message(UNKNOWN_STATUS, status=value["STATUS"][:20]))
        if not value["REQUIREMENTS_ID"] or not _requirement_order(value["REQUIREMENTS_ID"])[0]:
            raise problem_at(Message(N_("identifiant d’exigence « %(value)s » inattendu"),
                                     value=value["REQUIREMENTS_ID"][:20]))
        if value["PROVIDER"] not in PROVIDERS:
            raise problem_at(Message(N_("fournisseur « %(provider)s » sans référentiel SecNumCloud 3.2 chez Prowler "
                                        "(aws, azure ou gcp attendus)"), provider=value["PROVIDER"][:30]))
        if value["MUTED"] not in ("True", "False"):
            raise problem_at(Message(N_("valeur MUTED « %(value)s » : True ou False attendus"), value=value["MUTED"][:20]))
        providers.add(value["PROVIDER"])
        findings.append(Finding(
            (value["REQUIREMENTS_ID"],), value["CHECKID"], value["STATUS"], value["MUTED"] == "True",
            value["RESOURCEID"] or value["RESOURCENAME"], value["RESOURCENAME"], value["STATUSEXTENDED"],
            _aware(value["ASSESSMENTDATE"], problem_at), row))
    return ProwlerReport(name, CSV, _one_provider(name, providers), findings, header)


def _one_provider(name: str, providers: set[str]) -> str:
    """One report is one framework (secnumcloud_3.2_<provider>): the evidence it refreshes depends on it."""
    if len(providers) > 1:
        raise _refuse(N_("%(file)s mêle les résultats de plusieurs fournisseurs (%(providers)s) : importez un rapport "
                         "par fournisseur"), file=name, providers=", ".join(sorted(providers)))
    return next(iter(providers), "")


# --- what each group answers ----------------------------------------------------------------------------------


def mapping_path() -> Path:
    from evidence.settings import resource_dir

    return resource_dir("controls") / "data" / "prowler-secnumcloud-3.2.yaml"


@lru_cache(maxsize=4)
def load_mapping(path: Optional[Path] = None) -> dict:
    """Prowler requirement id -> {"title", "answers", and per provider its own answers}."""
    data = yaml.safe_load((path or mapping_path()).read_text(encoding="utf-8"))
    return {str(key): spec for key, spec in (data.get("requirements") or {}).items()}


def answers_for(spec: Mapping, provider: str) -> dict[str, tuple[str, ...]]:
    """What a requirement's results answer for a provider: item ref -> entry ids ({}: left out)."""
    chosen = spec.get(provider) if spec.get(provider) is not None else spec.get("answers")
    return {str(ref): tuple(entries or ()) for ref, entries in (chosen or {}).items()}


@dataclass
class Grouped:
    """The report's groups: those that became Collected, and those left out (the mapping says why)."""

    report: ProwlerReport
    collected: list[Collected] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # requirement ids the mapping answers nothing with
    manual: list[str] = field(default_factory=list)  # requirement ids Prowler has no check for (MANUAL rows only)


def group(report: ProwlerReport, mapping: Optional[Mapping] = None) -> Grouped:
    """One Collected per Prowler requirement the mapping links to our catalogue."""
    mapping = load_mapping() if mapping is None else mapping
    grouped = Grouped(report)
    for requirement, findings in report.groups().items():
        if all(f.status == "MANUAL" for f in findings):  # Prowler decides nothing there: a person does
            grouped.manual.append(requirement)
            continue
        spec = mapping.get(requirement) or {}
        answers = answers_for(spec, report.provider)
        if not answers:
            grouped.left_out.append(requirement)
            continue
        grouped.collected.append(_collected(report, requirement, spec, findings, answers))
    return grouped


def _collected(report: ProwlerReport, requirement: str, spec: Mapping, findings: list[Finding],
               answers: dict[str, tuple[str, ...]]) -> Collected:
    counts = Counts(
        passed=sum(1 for f in findings if f.status == "PASS" and not f.muted),
        failed=sum(1 for f in findings if f.status == "FAIL" and not f.muted),
        muted=sum(1 for f in findings if f.muted),
        manual=sum(1 for f in findings if f.status == "MANUAL" and not f.muted))
    run_at = max(f.time for f in findings)
    provider = PROVIDERS[report.provider]
    title = f"Prowler {provider} · SecNumCloud {requirement} {spec.get('title', '')}".strip()
    return Collected(
        subject=requirement, title=title, result=result_of(counts), counts=counts,
        files=(_slice(report, requirement, findings, run_at),), run_at=run_at,
        failing=tuple(Failing(f.check, f.resource, f.status_text, f.resource_name, f.muted)
                      for f in findings if f.status == "FAIL"),
        answers=answers, source=report.source,
        description=(f"Résultats des contrôles Prowler que le référentiel {report.source} range sous l’exigence "
                     f"{requirement} de SecNumCloud 3.2, compte {provider}. Chaque version garde les constats d’une "
                     f"analyse (le fichier), avec les ressources en échec ; ce qu’elle prouve est dit par "
                     f"controls/data/prowler-secnumcloud-3.2.yaml."))


def _slice(report: ProwlerReport, requirement: str, findings: list[Finding], run_at: datetime) -> CollectedFile:
    """The group's part of the report, in the report's own format: the same records an evaluator can check."""
    stamp = run_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    stem = f"prowler-{report.source}-{requirement}-{stamp}"
    if report.format == OCSF:
        text = json.dumps([f.raw for f in findings], indent=2, ensure_ascii=False) + "\n"
        return CollectedFile(f"{stem}.ocsf.json", "application/json", text.encode("utf-8"))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(report.header)
    writer.writerows(f.raw for f in findings)
    return CollectedFile(f"{stem}.csv", "text/csv", out.getvalue().encode("utf-8"))


# --- the collector -----------------------------------------------------------------------------------------------


class ProwlerCollector:
    """The `prowler` collector (evidence.collectors.Collector): a Prowler report file in, one Collected per
    SecNumCloud requirement the mapping links."""

    name = NAME
    label = {"fr": "Prowler", "en": "Prowler"}
    default_ttl_days: Optional[int] = None  # COLLECTOR_TTL / COLLECTOR_TTL_DAYS
    takes = "file"
    default_source = "secnumcloud_3.2"

    def collect(self, source: Path, options: Mapping[str, Any] = None) -> list[Collected]:
        return group(read(Path(source))).collected


def collect(source: Path, options: Mapping[str, Any] = None) -> list[Collected]:
    return ProwlerCollector().collect(source, options or {})
