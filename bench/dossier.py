"""Time and memory of the dossier on a full-size perimeter, against one plain WeasyPrint pass over the same HTML.

    .venv/bin/python bench/dossier.py [--controls 150] [--evidence 1500] [--workers N] [--repeat 3]

Builds a perimeter where all 278 items apply, with 150 controls and 1,500 evidence versions, then prints:
pages; the product's rendering (seconds, peak memory); one plain `HTML(string=...).write_pdf()` of the same
HTML (seconds, peak memory); the ratio; and a re-render after one evidence item changed. Each rendering runs
in a fresh process (on a fresh part cache for the first one). The product lays parts out in worker processes:
its peak memory is the peak of the sum of the resident sizes of the process and its workers (sampled every
50 ms from the bench's own process); the process's own max RSS is shown beside it. Beside each time, its
processor time (user + system: the rendering process's and, for the product, its workers' from their start),
which a loaded machine does not inflate. With --repeat N, each figure is the median of N renderings (each
first rendering on a fresh cache, each re-render on the cache the first rendering left).
"""
from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from queue import Empty

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The targets of issue 20, against one plain WeasyPrint pass: the time of a first rendering and of one after a
# change, and the first rendering's peak memory.
FULL_RATIO, AGAIN_RATIO, MEMORY_RATIO = 0.3, 0.1, 0.4


def build(folder: Path, n_controls: int, n_evidence: int) -> dict:
    from sqlalchemy import insert
    from sqlmodel import select

    from evidence import catalogue, create_app
    from evidence.data import database as db
    from evidence.data import storage
    from evidence.data.models import (
        Applicability,
        Control,
        ControlPerimeter,
        ControlRequirement,
        Evidence,
        EvidenceControl,
        EvidencePerimeter,
        EvidenceVersion,
        Framework,
        Perimeter,
        Requirement,
    )
    from evidence.services import users as auth

    settings = {"INSTANCE_PATH": str(folder), "DATABASE_URL": f"sqlite:///{folder / 'evidence.db'}", "SECRET_KEY": "b" * 40}
    app = create_app(settings)
    db.migrate(db.get_engine(app))
    today = date(2026, 6, 15)
    with app.app_context(), db.session_scope(app) as session:
        catalogue.load_catalogues(session, catalogue.default_catalogue_paths(), "bench")
        owners = [auth.create_user(session, None, f"owner{i}@bench.example", f"Propriétaire {i}", "manager", "bench-password-1")
                  for i in range(12)]
        framework = session.exec(select(Framework).where(Framework.key == "secnumcloud-3.2")).one()
        perimeter = Perimeter(code="bench-full", name="Périmètre de mesure", description="Tous les points s'appliquent.",
                              service_types=["IaaS", "CaaS", "PaaS", "SaaS"], framework_id=framework.id)
        session.add(perimeter)
        session.flush()
        requirements = list(session.exec(select(Requirement).where(Requirement.framework_id == framework.id).order_by(Requirement.order)))
        for r in requirements:
            if r.built_on_types:  # make every item apply
                session.add(Applicability(perimeter_id=perimeter.id, requirement_id=r.id, applicable=True, reason="manual",
                                          justification="Mesure de performance"))
        store = storage.get_store(app)
        session.execute(insert(Control), [{
            "ref": f"CTL-B-{i:03d}", "title": f"Mesure de sécurité numéro {i} couvrant plusieurs points du référentiel",
            "description": "Description de la mesure. " * 4, "owner_id": owners[i % 12].id, "category": "technical",
            "status": "implemented" if i % 7 else "in_progress", "review_cycle_days": 365, "version": 1,
        } for i in range(n_controls)])
        controls = list(session.exec(select(Control.id).order_by(Control.id)))
        session.execute(insert(ControlPerimeter), [{"control_id": c, "perimeter_id": perimeter.id} for c in controls])
        mappings = {(controls[i % len(controls)], r.id) for i, r in enumerate(requirements)}
        mappings |= {(controls[(i * 7 + 3) % len(controls)], r.id) for i, r in enumerate(requirements)}
        session.execute(insert(ControlRequirement), [{
            "control_id": c, "requirement_id": r,
            "statement": "La mesure satisfait ce point par une procédure outillée, revue chaque année et tracée.",
        } for c, r in mappings])
        session.execute(insert(Evidence), [{
            "ref": f"EV-{i:05d}", "title": f"Preuve {i} : rapport, export ou enregistrement", "owner_id": owners[i % 12].id,
            "kind": "report", "status": ("approved", "approved", "in_review", "draft")[i % 4], "classification": "internal",
            "description": "", "review_comment": "", "effective_date": today - timedelta(days=30 + i % 300),
            "valid_until": today + timedelta(days=(i % 500) - 60), "version": 1,
        } for i in range(n_evidence)])
        evidence_ids = list(session.exec(select(Evidence.id).order_by(Evidence.id)))
        versions = []
        approved_at = datetime(2026, 6, 1, tzinfo=timezone.utc)
        for i, evidence_id in enumerate(evidence_ids):
            blob = store.put(io.BytesIO(f"contenu de la preuve {i}\n".encode() * 20))
            # An approved evidence's version carries its approval: only those are cited (issue 13's rule).
            versions.append({"evidence_id": evidence_id, "number": 1, "sha256": blob.sha256, "size": blob.size,
                             "storage_key": blob.key, "media_type": "text/plain", "original_filename": f"preuve-{i}.txt",
                             "note": "", "approved_at": approved_at if i % 4 < 2 else None})
        session.execute(insert(EvidenceVersion), versions)
        session.execute(insert(EvidencePerimeter), [{"evidence_id": e, "perimeter_id": perimeter.id}
                                                   for e in evidence_ids])
        session.execute(insert(EvidenceControl), [{"evidence_id": e, "control_id": controls[i % len(controls)]}
                                                 for i, e in enumerate(evidence_ids)])
        session.commit()
    return settings


def _measure(target, *args):
    """Run target(*args) in a fresh process; return (its result, seconds, peak RSS of the process and its
    children together in MB, the process's own max RSS in MB). The sum is sampled from here every 50 ms, so
    that the sampling costs the measured process nothing."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, target, args))
    started = time.perf_counter()
    process.start()
    peak = 0
    while True:
        peak = max(peak, _tree_rss_kb(process.pid))
        try:
            result, own_kb = queue.get(timeout=0.05)
            break
        except Empty:
            continue
    process.join()
    return result, time.perf_counter() - started, max(peak, own_kb) / 1024, own_kb / 1024


def _tree_rss_kb(root: int) -> int:
    """Resident size of a process and all its descendants, in kB (Linux /proc)."""
    parents, sizes = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as statm:
                sizes[int(entry)] = int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += sizes.get(pid, 0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def _child(queue, target, args):
    result = target(*args)
    queue.put((result, _own_peak_kb()))


def _own_peak_kb() -> int:
    """This process's peak resident size (VmHWM). Not getrusage's ru_maxrss: Linux carries that across the exec
    that starts a spawned process, so it would report the bench's own size when it forked (some 220 MB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu(who) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def product_render(settings: dict, snapshot_file: str, workers: int | None = None) -> tuple[int, float, dict]:
    import json
    from dataclasses import asdict

    from evidence import context, create_app
    from evidence.data import storage
    from evidence.dossier.generate import render_pdf

    app = create_app(settings)
    snapshot = json.loads(Path(snapshot_file).read_text())
    with app.app_context():
        started, cpu = time.perf_counter(), _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
        rendered = render_pdf(snapshot, "fr", storage.get_store(app), workers=workers,
                              settings=context.dossier_settings())
        seconds = time.perf_counter() - started
        # The workers have been waited for: RUSAGE_CHILDREN holds all their processor time, start included.
        cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - cpu
    Path(snapshot_file).with_suffix(".pdf").write_bytes(rendered.pdf)
    stats = asdict(rendered.stats) if rendered.stats is not None else {}
    stats["size"] = len(rendered.pdf)
    stats["cpu"] = cpu
    # Its pages are counted by the bench's own process (pages_of): reading the PDF back here would count in the
    # product's peak memory.
    return None, seconds, stats


def pages_of(pdf: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(pdf).pages)


def plain_render(settings: dict, snapshot_file: str) -> tuple[int, float]:
    import json

    from weasyprint import HTML

    from evidence import context, create_app
    from evidence.dossier.generate import render_html
    from evidence.dossier.render.fetcher import safe_fetcher

    app = create_app(settings)
    snapshot = json.loads(Path(snapshot_file).read_text())
    with app.app_context():
        html = render_html(snapshot, "fr", settings=context.dossier_settings())
        started, cpu = time.perf_counter(), time.process_time()
        document = HTML(string=html, url_fetcher=safe_fetcher(), base_url=None).render()
        document.write_pdf()
        return len(document.pages), time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controls", type=int, default=150)
    parser.add_argument("--evidence", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--repeat", type=int, default=1, help="renderings per figure, the median printed")
    options = parser.parse_args()
    import json

    from sqlmodel import select

    folder = Path(tempfile.mkdtemp(prefix="bench-dossier-"))
    settings = build(folder, options.controls, options.evidence)
    from evidence import context, create_app
    from evidence.data import database as db
    from evidence.data.models import Evidence
    from evidence.dossier.snapshot import take_snapshot
    from evidence.services.perimeters import get_perimeter

    app = create_app(settings)
    with app.app_context(), db.session_scope(app) as session:
        snapshot = take_snapshot(session, get_perimeter(session, "bench-full"), date(2026, 6, 15),
                                 {"marking": "", "attach_evidence": False},
                                 organisation=context.dossier_settings().organisation)
        snapshot["number"] = 1
    first = folder / "snapshot-1.json"
    first.write_text(json.dumps(snapshot))
    applicable = sum(1 for i in snapshot["items"] if i["applicability"] != "not_applicable")
    print(f"perimeter: {len(snapshot['items'])} items ({applicable} applicable), {options.controls} controls, "
          f"{len(snapshot['evidence'])} evidence versions pinned")

    cache, kept = folder / "dossier-cache", folder / "dossier-cache-first"
    products = []
    for _ in range(options.repeat):
        shutil.rmtree(cache, ignore_errors=True)
        products.append(_measure(product_render, settings, str(first), options.workers))
    shutil.copytree(cache, kept)  # what the re-renders start from
    (_pages, _inner, run), wall, peak, own = _median(products, lambda m: m[0][1])
    pages = pages_of(first.with_suffix(".pdf"))
    inner, cpu = _median_of(products, lambda m: m[0][1]), _median_of(products, lambda m: m[0][2]["cpu"])
    print(f"product rendering : {pages} pages, {inner:6.2f} s rendering ({wall:6.2f} s with process start), "
          f"{cpu:6.2f} s of processor time, "
          f"peak {peak:6.0f} MB with its workers (own max RSS {own:4.0f} MB); {_parts(run)}")
    plains = [_measure(plain_render, settings, str(first)) for _ in range(options.repeat)]
    (plain_pages, _plain_inner, _plain_cpu), plain_wall, plain_peak, _own = _median(plains, lambda m: m[0][1])
    plain_inner, plain_cpu = _median_of(plains, lambda m: m[0][1]), _median_of(plains, lambda m: m[0][2])
    print(f"plain WeasyPrint  : {plain_pages} pages, {plain_inner:6.2f} s, {plain_cpu:6.2f} s of processor time, "
          f"peak {plain_peak:6.0f} MB ({plain_inner / plain_pages:.3f} s and {plain_peak / plain_pages:.1f} MB per page)")
    print(f"ratio product/plain: {inner / plain_inner:.2f} (time, at most {FULL_RATIO}), {cpu / plain_cpu:.2f} "
          f"(processor time), {peak / plain_peak:.2f} (memory, at most {MEMORY_RATIO})")

    # One evidence item changes (a new title), then the dossier is rendered again.
    with app.app_context(), db.session_scope(app) as session:
        changed = min(42, options.evidence - 1)  # a small bench (--evidence under 43) changes its last one
        evidence = session.exec(select(Evidence).where(Evidence.ref == f"EV-{changed:05d}")).one()
        evidence.title = f"Preuve {changed} : rapport mis à jour"
        session.add(evidence)
        session.commit()
        snapshot = take_snapshot(session, get_perimeter(session, "bench-full"), date(2026, 6, 15),
                                 {"marking": "", "attach_evidence": False},
                                 organisation=context.dossier_settings().organisation)
        snapshot["number"] = 1
    second = folder / "snapshot-2.json"
    second.write_text(json.dumps(snapshot))
    agains = []
    for _ in range(options.repeat):
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(kept, cache)
        agains.append(_measure(product_render, settings, str(second), options.workers))
    (_pages2, _inner2, run2), _wall2, peak2, _own2 = _median(agains, lambda m: m[0][1])
    pages2 = pages_of(second.with_suffix(".pdf"))
    inner2, cpu2 = _median_of(agains, lambda m: m[0][1]), _median_of(agains, lambda m: m[0][2]["cpu"])
    print(f"re-render after one change: {pages2} pages, {inner2:6.2f} s, {cpu2:6.2f} s of processor time, "
          f"peak {peak2:6.0f} MB (ratio to the plain pass: {inner2 / plain_inner:.2f}, at most {AGAIN_RATIO}; "
          f"processor time {cpu2 / plain_cpu:.2f}); {_parts(run2)}")
    print(f"files in {folder}")


def _median(measures: list, key):
    """The measure whose key is the median (the lower one of an even count): its other figures with it."""
    return sorted(measures, key=key)[(len(measures) - 1) // 2]


def _median_of(measures: list, key) -> float:
    return statistics.median(key(m) for m in measures)


def _parts(run: dict) -> str:
    return (f"{run['rendered']} parts laid out, {run['cached']} from the cache, {run['workers']} worker(s) "
            f"using {run['worker_cpu']:.1f} s of processor time; PDF/A-3U of {run['size'] / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
