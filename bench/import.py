"""Bulk import throughput: 10,000 files of 4-64 KB, then 20 files of 50 MB, each set into a fresh instance.

    .venv/bin/python bench/import.py [--small 10000] [--large 20] [--large-mb 50] [--database-url URL]

For each set it prints, for `evidence import` run as a separate process (as a user runs it): rows per
second, MB per second and the peak memory (maximum resident set) of that process; then the same import
again (every row unchanged). Over the same files, in the same run, it times `openssl dgst -sha256` (hashing
with the CPU's SHA instructions) and `cp` followed by `sync`: the issue's floor is their sum, and the target
for large files is at most 1.2 times that. Files are read from the page cache by every contender alike.
Everything is made under one temporary folder, removed at the end.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

EVIDENCE = str(Path(sys.executable).with_name("evidence"))
PASSWORD = "bench-password-not-secret"
PERIMETER = "bench-fr1"  # evidence linked to no control names the perimeters it is valid for
# Run in the fresh instance after `evidence init` (which has no command to make a perimeter).
MAKE_PERIMETER = f"""
from evidence import create_app
from evidence.data import database as db
from evidence.data.models import User
from evidence.services.perimeters import PerimeterData, create_perimeter
from sqlmodel import select
app = create_app()
with app.app_context(), db.session_scope(app) as session:
    admin = session.scalars(select(User).where(User.role == "admin")).first()
    create_perimeter(session, admin, PerimeterData(code="{PERIMETER}", name="Bench", service_types=("IaaS",)))
"""


def make_small(folder: Path, count: int, rng: random.Random) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"{i // 1000:02d}" / f"journal-{i:05d}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(rng.randint(4 * 1024, 64 * 1024)))
        paths.append(path)
    return paths


def make_large(folder: Path, count: int, size_mb: int) -> list[Path]:
    """Distinct files without generating 1 GB of randomness: a random MiB, stamped with file and chunk number."""
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1024 * 1024)
    paths = []
    for i in range(count):
        path = folder / f"sauvegarde-{i:02d}.tar"
        with open(path, "wb") as out:
            for chunk in range(size_mb):
                out.write(f"{i:08d}{chunk:08d}".encode() + block[16:])
        paths.append(path)
    return paths


def write_manifest(path: Path, root: Path, files: list[Path]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "title", "kind", "perimeters"])
        for file in files:
            writer.writerow([file.relative_to(root).as_posix(), f"Preuve {file.stem}", "record", PERIMETER])


def run_child(args: list[str], env: dict) -> tuple[float, float, int, str, str, int]:
    """(wall seconds, CPU seconds, peak RSS bytes, stdout, stderr, exit status) of one child, from its own rusage."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, env=env, stdout=out, stderr=err, text=True)
        _pid, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return elapsed, cpu, usage.ru_maxrss * 1024, out.read(), err.read(), process.returncode


def timed_shell(command: str, cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, shell=True, check=True, cwd=cwd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def bench_set(name: str, base: Path, files: list[Path], root: Path, database_url: str | None) -> None:
    total = sum(f.stat().st_size for f in files)
    mb = total / 1e6
    manifest = base / f"{name}.csv"
    write_manifest(manifest, root, files)
    subprocess.run(["sync"], check=True)

    openssl = timed_shell(f"find {root.name} -type f -print0 | xargs -0 openssl dgst -sha256", root.parent)
    copy_dir = base / f"{name}-copy"
    copy = timed_shell(f"cp -r {root.name} {copy_dir} && sync", root.parent)
    shutil.rmtree(copy_dir)
    subprocess.run(["sync"], check=True)

    env = {**os.environ, "EVIDENCE_INSTANCE": str(base / f"{name}-instance")}
    env.pop("EVIDENCE_DEBUG", None)
    # An installed product runs from compiled bytecode; a shell that forbids writing it would have every run
    # compile the package again (0.5 s of start-up here).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if database_url:
        env["EVIDENCE_DATABASE_URL"] = database_url
    else:
        env.pop("EVIDENCE_DATABASE_URL", None)  # SQLite in the fresh instance
    subprocess.run([EVIDENCE, "init", "--admin-email", "bench@example.org", "--admin-password", PASSWORD],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-c", MAKE_PERIMETER], env=env, check=True)
    runs = []
    for label in ("import", "re-run (all unchanged)"):
        wall, cpu, rss, out, err, status = run_child([EVIDENCE, "import", str(manifest), "--root", str(root)], env)
        if status != 0:
            sys.exit(f"{name}: evidence import failed ({status}):\n{out}\n{err[:2000]}")
        inner = re.search(r"in ([0-9.]+) s \(", out)
        runs.append((label, wall, float(inner.group(1)) if inner else wall, cpu, rss))
    _wall, _cpu, _rss, out, err, status = run_child([EVIDENCE, "verify"], env)
    verified = "verify passes" if status == 0 else f"VERIFY FAILED: {err.strip()}"

    print(f"\n== {name}: {len(files):,} files, {mb:,.1f} MB ({verified})")
    print(f"  openssl dgst -sha256     {openssl:7.2f} s   {mb / openssl:8.1f} MB/s")
    print(f"  cp -r + sync             {copy:7.2f} s   {mb / copy:8.1f} MB/s")
    print(f"  floor: openssl + cp/sync {openssl + copy:7.2f} s")
    for label, wall, inner, cpu, rss in runs:
        print(f"  evidence {label}: {wall:.2f} s ({inner:.2f} s importing, the rest is start-up), "
              f"{wall / (openssl + copy):.2f}x the floor")
        print(f"      {len(files) / wall:,.0f} files/s ({len(files) / inner:,.0f} while importing), "
              f"{mb / wall:,.1f} MB/s ({mb / inner:,.1f}), peak memory {rss / 2**20:.0f} MB, "
              f"CPU {cpu:.2f} s ({cpu / len(files) * 1000:.2f} ms per file)")


@contextlib.contextmanager
def fresh_database(server_url: str | None):
    """None (SQLite in the instance), or the URL of a new PostgreSQL database, dropped afterwards."""
    if not server_url:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_import_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="number of 4-64 KB files")
    parser.add_argument("--large", type=int, default=20, help="number of large files")
    parser.add_argument("--large-mb", type=int, default=50, help="size of each large file, in MB (MiB)")
    parser.add_argument("--postgresql", metavar="URL",
                        help="a PostgreSQL server (e.g. postgresql+psycopg://postgres@127.0.0.1:55432/postgres) on "
                             "which a throw-away database is made for each set; default: SQLite in each instance")
    options = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-import-"))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Machine: {os.cpu_count()} CPU(s), load average {load} (other work on the machine slows every figure)")
    try:
        rng = random.Random(20240611)
        if options.small:
            root = base / "small"
            files = make_small(root, options.small, rng)
            with fresh_database(options.postgresql) as url:
                bench_set("small", base, files, root, url)
        if options.large:
            root = base / "large"
            files = make_large(root, options.large, options.large_mb)
            with fresh_database(options.postgresql) as url:
                bench_set("large", base, files, root, url)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
