"""Push 1,000 evidence versions through the REST API, as a pipeline would, against gunicorn, on SQLite or PostgreSQL.

    .venv/bin/python bench/api_push.py [--versions 1000] [--evidence 20] [--size 32768] [--clients 1]
                                       [--workers 2] [--database-url postgresql+psycopg://user@host:port/db]

A served app, not Flask's test client: what a pipeline waits for includes the HTTP server, the streamed body, the
token check and the commit, which the test client skips. Builds a fresh instance in a temporary folder (`evidence
init --demo`: the fictional provider, 350-odd evidence items already there), makes a contributor token limited to
iaas-fr1 (`evidence tokens create`), starts gunicorn on 127.0.0.1 and a free port, creates `--evidence` evidence items
through the API (multipart, with a first file), then pushes `--versions` new versions round-robin to them: each a
raw upload (POST /api/v1/evidence/{ref}/versions, a distinct file of `--size` bytes, `Digest: sha-256=…` checked
before the version exists), from `--clients` threads (1: one pipeline pushing one file after another).

Prints versions per second, p50/p95/p99 latency of a push, the database kind, and any error; checks at the end, through
the API, that every version pushed is there. Exit status 1 on any error. With --database-url, a throw-away database is
created on that server and dropped at the end; gunicorn is stopped and the instance removed, even on Ctrl-C.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import percentile, served_instance  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PERIMETER = "iaas-fr1"
CONTROL = "CTL-OPS-02"  # a demo control deployed in iaas-fr1: what the pushed evidence proves
TOKEN_NAME = "bench-push"


def call(base: str, secret: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, JSON body or None, seconds) of one API call."""
    request = urllib.request.Request(base + path, data=body, method=method, headers={
        "Authorization": f"Bearer {secret}", "Accept-Language": "en", "User-Agent": "bench-api-push/1",
        **(headers or {})})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as failure:
        status, raw = failure.code, failure.read()
    seconds = time.perf_counter() - started
    try:
        return status, json.loads(raw or b"null"), seconds
    except ValueError:
        return status, None, seconds


def multipart(fields: list[tuple[str, str]], filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/pdf\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def document(n: int, size: int) -> bytes:
    """A distinct file (the store keeps identical content once: every push must be a new blob)."""
    head = f"%PDF-1.4\n% bench push {n} {uuid.uuid4()}\n".encode()
    return head + os.urandom(max(size - len(head), 0))


def create_evidence(base: str, secret: str, count: int, size: int) -> list[str]:
    refs = []
    for n in range(count):
        body, content_type = multipart([("title", f"Export automatique {n:03d}"), ("kind", "report"),
                                        ("controls", CONTROL), ("perimeters", PERIMETER)], f"export-{n:03d}.pdf",
                                       document(n, size))
        status, answer, _seconds = call(base, secret, "POST", "/api/v1/evidence", body, {"Content-Type": content_type})
        if status != 201:
            raise SystemExit(f"creating evidence failed: {status} {answer}")
        refs.append(answer["ref"])
    return refs


def push(base: str, secret: str, refs: list[str], numbers: range, size: int, samples: list, errors: Counter,
         lock: threading.Lock) -> None:
    for n in numbers:
        ref = refs[n % len(refs)]
        content = document(n, size)
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        status, answer, seconds = call(base, secret, "POST", f"/api/v1/evidence/{ref}/versions?filename=v{n:05d}.pdf",
                                       content, {"Content-Type": "application/pdf", "Digest": f"sha-256={digest}"})
        with lock:
            samples.append(seconds)
            if status != 201:
                errors[f"{status} {(answer or {}).get('detail', '')[:80]}"] += 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--evidence", type=int, default=20, help="evidence items the versions go to (default 20)")
    parser.add_argument("--size", type=int, default=32 * 1024, help="bytes per file (default 32 KiB)")
    parser.add_argument("--clients", type=int, default=1, help="threads pushing at once (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--database-url", help="a PostgreSQL server (a throw-away database is created on it); "
                                               "default: SQLite in the temporary instance")
    args = parser.parse_args(argv)
    if not (1 <= args.versions <= 100_000 and 1 <= args.evidence <= 1000 and 1 <= args.clients <= 64
            and 1 <= args.workers <= 64 and 100 <= args.size <= 50 * 2**20):
        parser.error("--versions 1..100000, --evidence 1..1000, --clients 1..64, --workers 1..64, --size 100..50MiB")

    setup = [["init", "--admin-email", "admin@example.org", "--admin-password", "push-admin-password-1", "--demo"],
             ["tokens", "create", TOKEN_NAME, "--role", "contributor", "--perimeter", PERIMETER]]
    with served_instance("evidence-api-push-", args.database_url, args.workers, setup) as served:
        secret = re.search(r"^(snc_\S+)$", served.outputs[1], re.M).group(1)
        base, kind = served.base, served.database
        refs = create_evidence(base, secret, args.evidence, args.size)
        samples: list[float] = []
        errors: Counter = Counter()
        lock = threading.Lock()
        threads = [threading.Thread(target=push, daemon=True, args=(
            base, secret, refs, range(i, args.versions, args.clients), args.size, samples, errors, lock))
            for i in range(args.clients)]
        begin = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - begin

        stored = 0
        for ref in refs:  # every version pushed is there (the first one of each came with its creation)
            status, answer, _seconds = call(base, secret, "GET", f"/api/v1/evidence/{ref}/versions?per_page=1")
            stored += answer["total"] - 1 if status == 200 else 0

    times = [s * 1000 for s in samples]
    print(f"\nPushed {len(samples)} versions of {args.size // 1024} KiB to {len(refs)} evidence items in {elapsed:.1f} s "
          f"({args.clients} client(s), gunicorn {args.workers} sync workers, database: {kind})")
    print(f"  versions/s: {len(samples) / elapsed:.1f}")
    print(f"  latency ms: p50 {percentile(times, 50):.0f}, p95 {percentile(times, 95):.0f}, "
          f"p99 {percentile(times, 99):.0f}, max {max(times, default=0):.0f}")
    print(f"  versions found afterwards through the API: {stored} of {args.versions}")
    tracebacks = served.log_text.count("Traceback (most recent call last)")
    for error, count in sorted(errors.items()):
        print(f"  refused: {count} × {error}")
    if tracebacks:
        print(f"  tracebacks in gunicorn's log: {tracebacks}")
    return 1 if errors or tracebacks or stored != args.versions else 0


if __name__ == "__main__":
    sys.exit(main())
