"""Collectors: programs that turn a tool's output into automated evidence.

The contract (what a collector is)
----------------------------------
A collector reads what a tool wrote (a scanner's report, a host's configuration folder...) and returns one
`Collected` per subject it judges (a Prowler SecNumCloud requirement such as "10.1", a host...): the **files**
an evaluator needs to check the result (exactly one per subject: the raw output, or a report that embeds what was
read), the **result** (passed, failed or partly, with counts of passed, failed, muted and manual checks, and the
checks that did not pass), the catalogue items and expected-evidence entries it answers when it passes, the time
of the run, and optionally its own **time-to-live** in days. It writes nothing:
`evidence.services.collection.record_collected` turns the list into evidence, in one transaction, audited, for
one perimeter. Collectors are pure readers so that a bad file is refused before anything is written, and so that
the CLI, the API and the scheduled runs share the same service. A collector raises EvidenceError for input it
cannot read, naming the file and the line or record.

A collector is an object with (the `Collector` protocol below):
- `name`: its key ("tls-ssh"), in commands, settings (COLLECTOR_TTL, COLLECTOR_SCHEDULE) and evidence;
- `label`: its name for people, per language ({"fr": ..., "en": ...});
- `default_ttl_days`: how long its results stand when COLLECTOR_TTL does not name it (None: COLLECTOR_TTL_DAYS);
- `takes`: "file" (a report: Prowler's) or "folder" (a tree of files: a host's configuration);
- `default_source`: the source its subjects come from when a `Collected` names none ("host-config"): with the
  collector, the subject and the perimeter it keys the evidence, so it must not change from run to run;
- `collect(source: Path, options: Mapping) -> list[Collected]`: `options` are the collector's own settings
  (`--option KEY=VALUE` on the command line) and `now`, the caller's clock (an aware datetime): a collector whose
  run is the reading itself (tls-ssh) dates its run with it; a scanner's report carries its own time.

Registering one: a Python entry point in the group `evidence.collectors` whose name is the collector's and whose
object is the collector or its class (called without arguments), e.g. in a plugin's pyproject.toml:

    [project.entry-points."evidence.collectors"]
    my-scanner = "my_package.collector:MyScanner"

The product's own collectors (BUILT_IN) are declared there too, and are found from the code even when the installed
distribution's metadata is stale or absent (see `registry`).
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Optional, Protocol, runtime_checkable

from evidence.core.errors import N_, EvidenceError

log = logging.getLogger(__name__)

# The result of one run for one subject: every check passed, every check failed, or some of each.
PASSED = "passed"
FAILED = "failed"
PARTLY = "partly"
RESULTS = (PASSED, FAILED, PARTLY)


@dataclass(frozen=True)
class Counts:
    """How many checks of the subject passed, failed, were muted (an accepted exception: not a failure) or
    need a person (manual: the tool cannot decide)."""

    passed: int = 0
    failed: int = 0
    muted: int = 0
    manual: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.muted + self.manual

    def as_dict(self) -> dict[str, int]:
        return {"passed": self.passed, "failed": self.failed, "muted": self.muted, "manual": self.manual,
                "total": self.total}


def result_of(counts: Counts) -> str:
    """The result the counts give: failures only → failed, none → passed, both → partly (muted and manual
    checks are not failures)."""
    if counts.failed and not counts.passed:
        return FAILED
    if counts.failed:
        return PARTLY
    return PASSED


@dataclass(frozen=True)
class CollectedFile:
    """The raw output a version keeps so that an evaluator can check the result: its bytes, or a path to read."""

    name: str
    media_type: str = "application/octet-stream"
    content: Optional[bytes] = None
    path: Optional[Path] = None

    def read(self) -> bytes:
        if self.content is not None:
            return self.content
        if self.path is None:
            raise ValueError(f"collected file {self.name!r} has neither content nor path")
        return self.path.read_bytes()


@dataclass(frozen=True)
class Failing:
    """One check that did not pass on one resource (or was muted: listed, flagged, not counted as a failure)."""

    check: str  # the tool's check id, e.g. Prowler's "storage_secure_transfer_required_is_enabled"
    resource: str  # the resource's id (or name when it has no id)
    status: str = ""  # the tool's status text, in its own words
    resource_name: str = ""
    muted: bool = False

    def as_dict(self) -> dict:
        return {"check": self.check, "resource": self.resource, "resource_name": self.resource_name,
                "status": self.status, "muted": self.muted}


@dataclass(frozen=True)
class Collected:
    """What a collector found about one subject in one run.

    subject: the collector's own key for what it judged ("10.1" for a Prowler requirement, a host name...);
      with the collector, the source and the perimeter it names the one automated evidence it refreshes.
    title: the evidence's title when it is created.
    result: one of RESULTS; counts: the checks behind it.
    files: the raw output the new version keeps (usually one file).
    failing: the checks that did not pass (and the muted ones, flagged).
    answers: the catalogue items (refs such as "10.1.a") and, for each, the expected evidence entry ids the
      subject answers when it passes (an empty tuple: linked to the item, answering no entry).
    run_at: when the tool ran (aware datetime): a newer run adds a version, the same run changes nothing.
    ttl_days: how long the result stands; None: the collector's setting (COLLECTOR_TTL / COLLECTOR_TTL_DAYS).
    description: the evidence's description when it is created (what the collector checks, in words).
    source: what the subject was collected from, when the collector tells sources apart (Prowler's
      "secnumcloud_3.2_azure"); "": the collector's `default_source`.
    """

    subject: str
    title: str
    result: str
    counts: Counts
    files: tuple[CollectedFile, ...]
    run_at: datetime
    failing: tuple[Failing, ...] = ()
    answers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ttl_days: Optional[int] = None
    description: str = ""
    source: str = ""

    def __post_init__(self):
        if self.result not in RESULTS:
            raise ValueError(f"result {self.result!r} is not one of {RESULTS}")
        if self.run_at.tzinfo is None:
            raise ValueError("run_at must be an aware datetime")


# --- the contract and the registry ------------------------------------------------------------------------------

ENTRY_POINT_GROUP = "evidence.collectors"
TAKES = ("file", "folder")  # what a collector reads: one report file, or a folder of files
# The product's own collectors, by name. pyproject.toml declares them as entry points too (a plugin's way, shown on
# the product itself), but they are loaded from this table: an editable install whose metadata predates a collector,
# or a checkout run without installing (PYTHONPATH), would otherwise lose collectors the code ships with; and no
# installed package may take over one of these names to say something else in their evidence.
BUILT_IN = {
    "prowler": "evidence.collectors.prowler:ProwlerCollector",
    "tls-ssh": "evidence.collectors.tls_ssh:TlsSshCollector",
}


@runtime_checkable
class Collector(Protocol):
    """What a collector is (see the module's words)."""

    name: str
    label: Mapping[str, str]
    default_ttl_days: Optional[int]
    takes: str
    default_source: str

    def collect(self, source: Path, options: Mapping[str, Any]) -> list[Collected]:
        ...


def plugin_entry_points() -> dict[str, metadata.EntryPoint]:
    """The installed entry points of the group, by name, less those that would take a built-in's name."""
    found: dict[str, metadata.EntryPoint] = {}
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if point.name in BUILT_IN:
            if point.value != BUILT_IN[point.name]:
                log.warning("collector entry point %s = %s ignored: %s is a built-in collector", point.name,
                            point.value, point.name)
            continue
        if point.name in found and found[point.name].value != point.value:
            log.warning("collector entry point %s declared twice (%s, %s): the first is used", point.name,
                        found[point.name].value, point.value)
            continue
        found.setdefault(point.name, point)
    return found


def names() -> list[str]:
    """Every collector's name, built-in or installed (nothing is loaded)."""
    return sorted({*BUILT_IN, *plugin_entry_points()})


def load_object(reference: str) -> Any:
    """The object an entry point's value names ("package.module:attribute.path")."""
    module, _, attributes = reference.partition(":")
    target: Any = importlib.import_module(module)
    for attribute in filter(None, attributes.split(".")):
        target = getattr(target, attribute)
    return target


def get(name: str) -> Collector:
    """The collector called `name`, loaded; EvidenceError when there is none, it does not load, or it does not
    follow the contract."""
    name = (name or "").strip()
    try:
        if name in BUILT_IN:
            target = load_object(BUILT_IN[name])
        else:
            point = plugin_entry_points().get(name)
            if point is None:
                raise EvidenceError(N_("aucun collecteur « %(name)s » ; collecteurs disponibles : %(names)s"),
                                    name=name, names=", ".join(names()), field="collector")
            target = point.load()
        collector = target() if isinstance(target, type) else target
    except EvidenceError:
        raise
    except Exception as error:  # noqa: BLE001 - a plugin's own failure, reported as a sentence
        raise EvidenceError(N_("le collecteur « %(name)s » ne se charge pas : %(error)s"), name=name,
                            error=f"{type(error).__name__}: {error}", field="collector") from None
    if not isinstance(collector, Collector) or collector.name != name or collector.takes not in TAKES:
        raise EvidenceError(N_("« %(name)s » ne suit pas le contrat des collecteurs (evidence.collectors.Collector)"),
                            name=name, field="collector")
    return collector


def label(collector: Collector, locale: str) -> str:
    """The collector's name for people in `locale` (fr or en), else any it has, else its key."""
    return collector.label.get(locale) or next(iter(collector.label.values()), "") or collector.name


def source_of(collector: Collector, items: list[Collected]) -> str:
    """The one source a run's subjects come from (one run is one source: one report, one folder)."""
    sources = sorted({item.source or collector.default_source for item in items})
    if len(sources) > 1:
        raise EvidenceError(N_("%(collector)s : un même passage mêle plusieurs sources (%(sources)s)"),
                            collector=collector.name, sources=", ".join(sources))
    return sources[0] if sources else collector.default_source
