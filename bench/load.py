"""Load: concurrent logged-in users against gunicorn, mixed reads and writes, on SQLite or PostgreSQL.

    .venv/bin/python bench/load.py [--clients 20] [--duration 60] [--workers 4] [--rate ARRIVALS_PER_S]
                                   [--healthz-seconds 10] [--database-url postgresql+psycopg://user@host:port/db]

Builds a fresh instance in a temporary folder (`evidence init --demo`: the fictional provider's two perimeters,
60 controls, 250 evidence items and 8 users), starts gunicorn on 127.0.0.1 and a free port, and runs `--clients`
threads for `--duration` seconds. Each client logs in as one of the demo users (managers and contributors; one in
five is the auditor) and loops over a weighted mix: page views (home, perimeter dashboard, gap list, lists, an
evidence item, a control, an item of the referential, a download) and writes (edit an evidence item, upload a
new version, create evidence with a file, edit a control), each write posting the form it has just loaded.

With --database-url, a throw-away database is created on that PostgreSQL server (the URL's database is only
used to connect) and dropped at the end. Everything stays on the loopback interface; gunicorn is stopped and the
instance removed at the end, even on Ctrl-C.

First, as many clients hit /healthz for --healthz-seconds: the same server's ceiling with no template and no
database, which the product's throughput is printed against (a ratio, which holds from one machine to another far
better than a rate). --rate switches from closed loops (each client waits for its answer, then asks again) to an
open loop: arrivals at a fixed rate on a pool of --clients logged-in sessions, each arrival's latency counted from
when it was due, so that a server falling behind shows its queue.

Prints requests per second, p50/p95/p99 latency (overall, page views, writes), and errors by kind: 5xx,
"database is locked" (counted in gunicorn's log), other refusals, connection errors, and edit conflicts
(optimistic locking: two users saving the same object; refused with a message, which is correct behaviour).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import http.cookiejar
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "load-admin-password-1"
REQUEST_TIMEOUT = 60  # seconds: a request slower than this counts as an error
# Optimistic locking's refusal, in either language the pages speak (the clients send no Accept-Language).
CONFLICTS = ("changed by someone else", "modifié par quelqu’un d’autre")

# (weight, name): what one client iteration does.
MIX = [
    (10, "home"), (10, "perimeter_dashboard"), (4, "gap_list"), (10, "evidence_list"), (14, "evidence_show"),
    (5, "control_list"), (9, "control_show"), (8, "requirement_show"), (4, "download"),
    (9, "edit_evidence"), (7, "upload_version"), (4, "create_evidence"), (6, "edit_control"),
]
WRITES = {"edit_evidence", "upload_version", "create_evidence", "edit_control"}


# --- a small HTTP client (standard library only) ------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is an answer: record it, do not follow


@dataclass
class Sample:
    kind: str  # "page" or "write"
    name: str
    status: int  # 0: no answer
    seconds: float
    error: str = ""  # "", "5xx", "conflict", "refused:<status>", "connection: …"


class Browser:
    """One user's session: cookies, CSRF token, timing of every request."""

    def __init__(self, base: str, samples: list, lock: threading.Lock):
        self.base, self.samples, self.lock = base, samples, lock
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        self.waited = 0.0  # open loop: how long the request waited for a free session past its due time

    def request(self, name: str, path: str, data: bytes | None = None, content_type: str | None = None,
                record: bool = True) -> tuple[int, str, dict]:
        headers = {"User-Agent": "bench-load/1"}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=data, headers=headers,
                                     method="POST" if data is not None else "GET")
        started = time.perf_counter()
        status, body, response_headers, error = 0, "", {}, ""
        try:
            with self.opener.open(req, timeout=REQUEST_TIMEOUT) as response:
                status, raw, response_headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as failure:  # 3xx (not followed), 4xx, 5xx
            status, raw, response_headers = failure.code, failure.read(), dict(failure.headers)
        except (urllib.error.URLError, OSError) as failure:
            raw, error = b"", f"connection: {getattr(failure, 'reason', failure)}"
        elapsed = time.perf_counter() - started
        ctype = response_headers.get("Content-Type", "")
        body = raw.decode("utf-8", "replace") if ctype.startswith("text/") else ""
        if not error:
            if status >= 500:
                error = "5xx"
            elif status == 409 or any(words in body for words in CONFLICTS):
                error = "conflict"
            elif status >= 400 or status == 0:
                error = f"refused: {status}"
            elif data is not None and status == 200 and 'class="flash flash-error"' in body:
                error = "refused: form error"
        if record:
            elapsed, self.waited = elapsed + self.waited, 0.0
            with self.lock:
                self.samples.append(Sample("write" if data is not None else "page", name, status, elapsed, error))
        return status, body, response_headers

    def get(self, name: str, path: str, record: bool = True):
        return self.request(name, path, record=record)

    def post(self, name: str, path: str, fields: list[tuple[str, str]], files: dict | None = None):
        if files:
            boundary = uuid.uuid4().hex
            parts = []
            for key, value in fields:
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
            for key, (filename, content) in files.items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
                             f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
            parts.append(f"--{boundary}--\r\n".encode())
            return self.request(name, path, b"".join(parts), f"multipart/form-data; boundary={boundary}")
        return self.request(name, path, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded")


class FormReader(HTMLParser):
    """The fields of the first POST form whose action ends with `action` (default: the first form without an
    action, which posts to the page itself: the page's main form), as a browser would send them."""

    def __init__(self, action: str = ""):
        super().__init__(convert_charrefs=True)
        self.action, self.fields, self.inside, self.done = action, [], False, False
        self._textarea = self._select = None
        self._options: list = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form" and not self.done and a.get("method", "").lower() == "post" and \
                (a.get("action", "").endswith(self.action) if self.action else not a.get("action")):
            self.inside = True
        elif not self.inside:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button", "file"):
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self._textarea = [a.get("name", ""), ""]
        elif tag == "select":
            self._select, self._options = (a.get("name", ""), "multiple" in a), []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "form":
            self.inside, self.done = False, True
        elif tag == "textarea" and self._textarea:
            self.fields.append(tuple(self._textarea))
            self._textarea = None
        elif tag == "select" and self._select:
            name, multiple = self._select
            chosen = [v for v, s in self._options if s] or ([] if multiple or not self._options else [self._options[0][0]])
            self.fields += [(name, v) for v in chosen]
            self._select = None


def form_fields(html: str, action: str = "") -> list[tuple[str, str]]:
    reader = FormReader(action)
    reader.feed(html)
    return reader.fields


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    return match.group(1) if match else ""


# --- the world the clients act on ----------------------------------------------------------------------------


@dataclass
class World:
    perimeters: list[str]
    evidence: list[str]
    controls: list[str]
    requirements: list[str]
    users: list[tuple[str, str]]  # (email, role)
    password: str
    # email -> (evidence refs, control refs) he may edit: a contributor his own, a manager what he may read
    mine: dict = field(default_factory=dict)
    downloads: dict = field(default_factory=dict)  # email -> the download links he may follow


def discover(base: str, password: str, users: list[tuple[str, str]]) -> World:
    """What each user reaches, found through the pages as he sees them: need-to-know hides some evidence from some
    readers, and a request the product rightly refuses is not a load to measure."""
    probe = Browser(base, [], threading.Lock())
    log_in(probe, users[0][0], password, record=False)
    text = lambda path: probe.get("discover", path, record=False)[1]  # noqa: E731
    perimeters = sorted(set(re.findall(r'href="/perimeters/([a-z0-9][a-z0-9.-]*)"', text("/perimeters/"))) - {"new"})
    evidence, controls = [], []
    for page in range(1, 7):
        evidence += re.findall(r'href="/evidence/(EV-\d+)"', text(f"/evidence/?page={page}"))
    controls += re.findall(r'href="/controls/([A-Z0-9._-]+)"', text("/controls/?page=1") + text("/controls/?page=2"))
    requirements = re.findall(r'href="/requirements/secnumcloud-3.2/([^"?#]+)"', text("/requirements/"))
    world = World(perimeters, sorted(set(evidence)), sorted(set(controls)), sorted(set(requirements)), users, password)
    if not (world.perimeters and world.evidence and world.controls and world.requirements):
        raise SystemExit(f"could not find the demo data through the pages: {world}")
    sampled = random.Random(1).sample(world.evidence, min(40, len(world.evidence)))
    for email, role in dict.fromkeys(users):
        reader = Browser(base, [], threading.Lock())
        log_in(reader, email, password, record=False)
        seen = lambda path, reader=reader: reader.get("", path, record=False)[1]  # noqa: E731
        readable, links = [], []
        for ref in sampled:
            page = seen(f"/evidence/{ref}")
            if 'class="notice locked"' not in page:
                readable.append(ref)
                links += re.findall(r'href="(/evidence/[^"]+/download)"', page)
        world.downloads[email] = links
        if role == "contributor":
            world.mine[email] = (sorted(set(re.findall(r'href="/evidence/(EV-\d+)"', seen("/evidence/?owner=me")))),
                                 sorted(set(re.findall(r'href="/controls/([A-Z0-9._-]+)"', seen("/controls/?owner=me")))))
        elif role in ("manager", "admin"):
            world.mine[email] = (readable, world.controls)
    return world


def log_in(browser: Browser, email: str, password: str, record: bool = True) -> None:
    _status, page, _h = browser.get("login_form", "/login", record=record)
    status, _body, headers = browser.request("login", "/login", urllib.parse.urlencode(
        {"csrf_token": csrf(page), "email": email, "password": password}).encode(),
        "application/x-www-form-urlencoded", record=record)
    if status != 302:
        raise SystemExit(f"cannot log in as {email}: HTTP {status}")


# --- one client ----------------------------------------------------------------------------------------------------


def client_loop(base: str, world: World, email: str, role: str, deadline: float, samples: list, lock, seed: int) -> None:
    """Closed loop: one user, no think time, one request after the other until the deadline."""
    rng = random.Random(seed)
    browser = Browser(base, samples, lock)
    log_in(browser, email, world.password)
    counter = 0
    while time.monotonic() < deadline:
        counter += 1
        act(browser, world, email, role, rng, counter)


def act(browser: Browser, world: World, email: str, role: str, rng: random.Random, counter: int) -> None:
    """One iteration of the mix, drawn by its weights (an auditor never writes)."""
    names = [name for _w, name in MIX]
    weights = [w if (role != "auditor" or name not in WRITES) else 0 for w, name in MIX]
    own_evidence, own_controls = world.mine.get(email, ([], []))
    action = rng.choices(names, weights)[0]
    if action == "home":
        browser.get(action, "/")
    elif action == "perimeter_dashboard":
        browser.get(action, f"/perimeters/{rng.choice(world.perimeters)}/dashboard")
    elif action == "gap_list":
        browser.get(action, f"/perimeters/{rng.choice(world.perimeters)}/gaps")
    elif action == "evidence_list":
        browser.get(action, f"/evidence/?page={rng.randint(1, 5)}")
    elif action == "evidence_show":
        browser.get(action, f"/evidence/{rng.choice(world.evidence)}")
    elif action == "control_list":
        browser.get(action, "/controls/")
    elif action == "control_show":
        browser.get(action, f"/controls/{rng.choice(world.controls)}")
    elif action == "requirement_show":
        browser.get(action, f"/requirements/secnumcloud-3.2/{rng.choice(world.requirements)}")
    elif action == "download" and world.downloads.get(email):
        browser.get(action, rng.choice(world.downloads[email]))
    elif action == "edit_evidence" and own_evidence:
        ref = rng.choice(own_evidence)
        _s, page, _h = browser.get("edit_evidence_form", f"/evidence/{ref}/edit")
        fields = [(k, v) for k, v in form_fields(page) if k != "title"]
        if fields:
            browser.post(action, f"/evidence/{ref}/edit", fields + [("title", f"Preuve éditée {email[:6]} {counter}")])
    elif action == "upload_version" and own_evidence:
        ref = rng.choice(own_evidence)
        _s, page, _h = browser.get("evidence_show", f"/evidence/{ref}")
        token = csrf(page)
        if token and "/versions" in page:
            content = f"{email} {counter} {time.time()}\n".encode() + os.urandom(rng.randint(2_000, 60_000))
            browser.post(action, f"/evidence/{ref}/versions", [("csrf_token", token), ("note", "charge")],
                         files={"file": (f"export-{counter}.bin", content)})
    elif action == "create_evidence":
        _s, page, _h = browser.get("new_evidence_form", "/evidence/new")
        fields = [(k, v) for k, v in form_fields(page) if k not in ("title", "kind", "url")]
        content = f"{email} {counter}\n".encode() + os.urandom(rng.randint(2_000, 30_000))
        browser.post(action, "/evidence/new", fields + [("title", f"Preuve de charge {counter}"), ("kind", "record")],
                     files={"file": (f"charge-{counter}.bin", content)})
    elif action == "edit_control" and own_controls:
        ref = rng.choice(own_controls)
        _s, page, _h = browser.get("edit_control_form", f"/controls/{ref}/edit")
        fields = [(k, v) for k, v in form_fields(page) if k != "description"]
        if fields:
            browser.post(action, f"/controls/{ref}/edit", fields + [("description", f"Revue {email[:6]} {counter}")])


def open_loop(base: str, world: World, people: list[tuple[str, str]], rate: float, deadline: float, samples: list,
              lock, seed: int) -> None:
    """Open loop: arrivals at a fixed rate whatever the answers' speed, each one iteration of the mix on a free
    logged-in session. An arrival's time counts from when it was due, so that a slow server's queue shows in the
    latency (no coordinated omission)."""
    sessions: queue.Queue = queue.Queue()
    for email, role in people:
        browser = Browser(base, samples, lock)
        log_in(browser, email, world.password, record=False)  # before the clock starts: not an arrival
        sessions.put((browser, email, role))
    rng = random.Random(seed)
    begin, n = time.monotonic(), 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(len(people) * 4, 8)) as pool:
        while True:
            due = begin + n / rate
            if due >= deadline:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            pool.submit(_arrival, world, sessions, due, rng.randrange(1 << 30), n, samples, lock)
            n += 1


def _arrival(world, sessions, due, seed, n, samples, lock) -> None:
    browser, email, role = sessions.get()  # waits for a free session: that wait is the server's queue
    try:
        browser.waited = time.monotonic() - due  # added to the arrival's first request
        act(browser, world, email, role, random.Random(seed), n)
    finally:
        sessions.put((browser, email, role))


def healthz_rate(base: str, clients: int, seconds: float) -> tuple[float, float]:
    """Requests per second and p95 (ms) of /healthz, `clients` closed loops, on the same server: the ceiling
    of this server, this machine and this client (no template, no database) that the product's rate is read
    against."""
    samples: list[Sample] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop():
        browser = Browser(base, samples, lock)
        while time.monotonic() < deadline:
            browser.get("healthz", "/healthz")

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    begin = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - begin
    return len(samples) / elapsed, percentile([s.seconds * 1000 for s in samples], 95)


# --- the server ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer {url} within {seconds} s")


def create_pg_database(url: str) -> tuple[str, str]:
    """A new database on the server of `url`; returns (its URL, its name)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"evidence_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False), name


def drop_pg_database(url: str, name: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Served:
    """A throw-away instance served by gunicorn (served_instance)."""

    base: str  # http://127.0.0.1:<port>
    outputs: list  # what each set-up command printed
    database: str  # "SQLite" or "PostgreSQL"
    log_text: str = ""  # gunicorn's log, read once it is stopped
    pid: int = 0  # gunicorn's master, leader of its process group

    def cpu_seconds(self) -> float:
        """User and system CPU time of gunicorn's processes so far (read from /proc): on a machine shared with other
        work, CPU per request says what a page costs when wall-clock figures cannot."""
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.pid:  # fields[2]: process group (field 5 of proc(5))
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def served_instance(prefix: str, database_server: str | None, workers: int, commands: list[list[str]],
                    keep: bool = False):
    """A fresh instance in a temporary folder (with `database_server`, a PostgreSQL URL, a throw-away database of
    its own on that server), set up by `evidence` `commands`, served by gunicorn with `workers` sync workers on
    127.0.0.1 and a free port; stopped and removed at the end (kept with `keep`), even on Ctrl-C. What bench/load.py
    and bench/api_push.py both stand on."""
    instance = Path(tempfile.mkdtemp(prefix=prefix))
    database_url, pg_name = f"sqlite:///{instance / 'evidence.db'}", None
    if database_server:
        database_url, pg_name = create_pg_database(database_server)
    # The demo's people log in with their password alone: no second factor is asked of a bench's sessions.
    env = {**os.environ, "EVIDENCE_INSTANCE": str(instance), "EVIDENCE_DATABASE_URL": database_url,
           "EVIDENCE_MFA_REQUIRED_ROLES": ""}
    env.pop("EVIDENCE_JOBS_IMMEDIATE", None)
    served = Served("", [], "PostgreSQL" if pg_name else "SQLite")
    server = None
    log_path = instance / "gunicorn.log"
    try:
        started = time.monotonic()
        for command in commands:
            done = subprocess.run([str(VENV_BIN / "evidence"), *command], env=env, capture_output=True, text=True,
                                  timeout=600)
            if done.returncode != 0:
                raise SystemExit(f"evidence {command[0]} failed:\n{done.stdout}\n{done.stderr}")
            served.outputs.append(done.stdout)
        print(f"Instance {instance} ready in {time.monotonic() - started:.0f} s ({served.database})")
        port = free_port()
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
                 "--timeout", "120", "--error-logfile", "-", "evidence:create_app()"],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=instance, start_new_session=True)
        served.base, served.pid = f"http://127.0.0.1:{port}", server.pid
        wait_for(served.base + "/healthz", 60, server)
        yield served
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        served.log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
        if not keep:
            shutil.rmtree(instance, ignore_errors=True)
            if pg_name:
                drop_pg_database(database_server, pg_name)
        else:
            print(f"kept: {instance}" + (f" and database {pg_name}" if pg_name else ""))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def failures_in(log_text: str) -> Counter:
    """The exception each traceback of gunicorn's log ends with (its first line not indented after the frames),
    and the frame of the product it was raised in: what a 5xx was."""
    found = Counter()
    for block in log_text.split("Traceback (most recent call last):")[1:]:
        lines = block.splitlines()
        frames = [n for n, text in enumerate(lines) if text.startswith("  File ")]
        ours = [lines[n].strip() for n in frames if "/evidence/" in lines[n] and "site-packages" not in lines[n]]
        after = lines[frames[-1] + 2:] if frames else lines
        exception = next((text for text in after if text and not text.startswith(" ")), "?")
        found[f"{exception[:200]} (at {ours[-1][:160] if ours else 'no frame of the product'})"] += 1
    return found


def report(samples: list[Sample], elapsed: float, log_text: str, args, database: str, ceiling=None,
           cpu: tuple[float, float] = (0.0, 0.0)) -> int:
    def line(label, chosen):
        times = [s.seconds * 1000 for s in chosen]
        return (f"  {label:<22} {len(chosen):>7} {len(chosen) / elapsed:>8.1f} {percentile(times, 50):>8.0f} "
                f"{percentile(times, 95):>8.0f} {percentile(times, 99):>8.0f} {max(times, default=0):>8.0f}")

    errors = Counter(s.error for s in samples if s.error)
    locked = log_text.count("database is locked")
    tracebacks = log_text.count("Traceback (most recent call last)")
    mode = f"open loop at {args.rate:g} arrivals/s on {args.clients} sessions" if args.rate else \
        f"{args.clients} clients, closed loop"
    print(f"\nLoad: {mode}, {elapsed:.0f} s, gunicorn {args.workers} workers (sync), {database}")
    print(f"  {'':<22} {'requests':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(line("all", samples))
    print(line("page views (GET)", [s for s in samples if s.kind == "page"]))
    print(line("writes (POST)", [s for s in samples if s.kind == "write"]))
    by_name = defaultdict(list)
    for s in samples:
        by_name[s.name].append(s)
    for name in sorted(by_name):
        print(line("  " + name, by_name[name]))
    if ceiling and not args.rate:  # an open loop's rate is the one asked for
        print(f"Throughput: {len(samples) / elapsed:.1f} req/s = {len(samples) / elapsed / ceiling[0]:.2f}× /healthz "
              f"({ceiling[0]:.1f} req/s on the same server)")
    if samples and cpu[0]:
        print(f"CPU: the server {cpu[0] * 1000 / len(samples):.1f} ms per request ({cpu[0]:.1f} s in all), "
              f"this load generator {cpu[1]:.1f} s, on {os.cpu_count()} cores over {elapsed:.0f} s")
    print("Errors:")
    print(f"  5xx responses:              {errors.pop('5xx', 0)}")
    print(f"  'database is locked' (log): {locked}")
    print(f"  tracebacks in the log:      {tracebacks}")
    for line, count in failures_in(log_text).most_common():
        print(f"    {count} × {line}")
    print(f"  edit conflicts (refused, optimistic locking, expected under contention): {errors.pop('conflict', 0)}")
    for kind, count in sorted(errors.items()):
        where = Counter(s.name for s in samples if s.error == kind)
        print(f"  {kind}: {count} ({', '.join(f'{name} {n}' for name, n in where.most_common())})")
    return 1 if any(s.error == "5xx" for s in samples) or locked else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--database-url", help="a PostgreSQL server (a throw-away database is created on it); "
                                               "default: SQLite in the temporary instance")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="open loop: arrivals per second at a fixed rate, on --clients logged-in sessions "
                             "(default: closed loop, each client with no think time)")
    parser.add_argument("--healthz-seconds", type=float, default=10.0,
                        help="seconds of /healthz before the load, on as many clients (default 10; 0: skip)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the instance folder (and database) afterwards")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 500 and 1 <= args.duration <= 3600 and 1 <= args.workers <= 64
            and 0 <= args.rate <= 10_000 and 0 <= args.healthz_seconds <= 600):
        parser.error("--clients 1..500, --duration 1..3600, --workers 1..64, --rate 0..10000, --healthz-seconds 0..600")

    setup = [["init", "--admin-email", "admin@example.org", "--admin-password", ADMIN_PASSWORD, "--demo"]]
    with served_instance("evidence-load-", args.database_url, args.workers, setup, keep=args.keep) as served:
        match = re.search(r"password \(shown once\): (\S+)", served.outputs[0])
        if not match:
            raise SystemExit(f"no demo password in the output of evidence init:\n{served.outputs[0]}")
        password, base = match.group(1), served.base

        users = [(f"{name}@nuage-souverain.example", role) for name, role in (
            ("claire.fontaine", "manager"), ("thomas.garnier", "manager"), ("sophie.lambert", "contributor"),
            ("nicolas.perrin", "contributor"), ("elodie.marchand", "contributor"), ("karim.benali", "contributor"),
            ("julien.moreau", "admin"))]
        auditor = ("helene.dubois@nuage-souverain.example", "auditor")
        world = discover(base, password, users + [auditor])
        print(f"Demo data: {len(world.perimeters)} perimeters, {len(world.evidence)} evidence items, "
              f"{len(world.controls)} controls, {len(world.requirements)} items of the referential")

        ceiling = healthz_rate(base, args.clients, args.healthz_seconds) if args.healthz_seconds else None
        if ceiling:
            print(f"/healthz on the same server, {args.clients} clients: {ceiling[0]:.1f} req/s, p95 {ceiling[1]:.0f} ms")

        samples: list[Sample] = []
        lock = threading.Lock()
        people = [auditor if n % 5 == 4 else users[n % len(users)]
                  for n in range(args.clients)]
        cpu_before, own_before = served.cpu_seconds(), time.process_time()
        begin = time.monotonic()
        deadline = begin + args.duration
        if args.rate:
            open_loop(base, world, people, args.rate, deadline, samples, lock, args.seed)
        else:
            threads = [threading.Thread(target=client_loop, name=f"client-{n}", daemon=True,
                                        args=(base, world, email, role, deadline, samples, lock, args.seed * 1000 + n))
                       for n, (email, role) in enumerate(people)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=args.duration + REQUEST_TIMEOUT * 4)  # each loop ends at the deadline
        elapsed = time.monotonic() - begin
        cpu = (served.cpu_seconds() - cpu_before, time.process_time() - own_before)
        with lock:
            done = list(samples)
    return report(done, elapsed, served.log_text, args, served.database, ceiling, cpu)


if __name__ == "__main__":
    sys.exit(main())
