"""Two app nodes as a deployer runs them, for tests/test_two_nodes.py: gunicorn processes configured by environment
variables alone, an S3 emulator (moto's server, in this process) and a browser-like HTTP client."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

VENV_BIN = Path(sys.executable).parent
S3_KEYS = {"AWS_ACCESS_KEY_ID": "two-nodes", "AWS_SECRET_ACCESS_KEY": "two-nodes-secret"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_environment(instance: Path, settings: dict) -> dict:
    """The environment of one node: its own instance folder, the cluster's settings; nothing of the test run's
    own EVIDENCE_* variables (immediate jobs, the test database), which a deployer's node would not have."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_") and not k.startswith("AWS_")}
    return {**inherited, **S3_KEYS, "EVIDENCE_INSTANCE": str(instance), **settings}


@dataclass
class Node:
    """One app node: gunicorn (its own process group, so that a kill takes the master and its workers at once)
    and, for a node that consumes the queue, `evidence worker` beside it."""

    name: str
    base: str
    web: subprocess.Popen
    worker: subprocess.Popen | None
    log: Path

    def kill(self) -> None:
        """The machine's loss, as near as a test comes: SIGKILL to every process of the node, no clean-up."""
        for process in (self.web, self.worker):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop(self) -> None:
        for process in (self.web, self.worker):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_node(name: str, instance: Path, settings: dict, *, workers: int = 2, consumer: bool = False) -> Node:
    """Start a node (not waiting for it: `wait_until_up`). Without `consumer` it runs no job consumer at all, as
    a plain `gunicorn 'evidence:create_app()'` does not."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = node_environment(instance, settings)
    log = instance / "node.log"
    port = free_port()
    with open(log, "w") as out:
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "60",
             "--error-logfile", "-", "evidence:create_app()"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=instance, start_new_session=True)
        worker = subprocess.Popen([str(VENV_BIN / "evidence"), "worker"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, cwd=instance, start_new_session=True) if consumer else None
    return Node(name, f"http://127.0.0.1:{port}", web, worker, log)


def wait_until_up(node: Node, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if node.web.poll() is not None:
            raise AssertionError(f"node {node.name} stopped:\n{node.log_text()}")
        try:
            if requests.get(node.base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # up but its workers still starting, or not listening yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"node {node.name} did not answer /healthz in {seconds} s:\n{node.log_text()}")


def start_s3(bucket: str):
    """moto's S3 emulator on 127.0.0.1 and a free port, with `bucket` made; returns (server, endpoint URL)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=bucket)
    return server, endpoint


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """One person's browser on one node: its cookies, forms posted with the page's CSRF token, redirects not
    followed (a 302 is the answer that says a form was accepted)."""

    def __init__(self, node: Node):
        self.base = node.base
        self.http = requests.Session()

    def get(self, path: str, **options) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=30, **options)

    def post(self, path: str, fields: dict, form_page: str | None = None, **options) -> requests.Response:
        page = self.get(form_page or path).text
        token = CSRF.search(page)
        assert token, f"no CSRF token on {form_page or path}"
        return self.http.post(self.base + path, data={"csrf_token": token.group(1), **fields}, allow_redirects=False,
                              timeout=30, **options)

    def log_in(self, email: str, password: str) -> requests.Response:
        return self.post("/login", {"email": email, "password": password})

    def logged_in(self) -> bool:
        answer = self.get("/account")
        assert answer.status_code in (200, 302), answer.status_code
        return answer.status_code == 200
