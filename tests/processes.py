"""Real daphne and rqworker processes for end-to-end tests.

They run against the test database pytest-django made (so use
`django_db(transaction=True)`), the real Redis, and this run's queue and
channel prefix.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    return database_url(connection.settings_dict)


def database_url(db: dict) -> str:
    """A DATABASE_URL for the database these connection settings reach."""
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or (db.get("OPTIONS") or {}).get("host") or "127.0.0.1"
    port = db.get("PORT") or 5432
    if str(host).startswith("/"):  # a Unix socket's folder (the embedded PostgreSQL: callsite/devservices.py)
        return f"postgres://{user}@:{port}/{db['NAME']}?host={quote(str(host), safe='/')}"
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def process_env(**extra: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        REDIS_PREFIX=settings.REDIS_PREFIX,
        CALL_QUEUE=settings.CALL_QUEUE,
        DB_CONN_MAX_AGE="0",
        DB_HEARTBEAT_CONNECTION="1",
        PYTHONUNBUFFERED="1",
    )
    for key, value in extra.items():  # None: leave the variable unset (the settings' default)
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


class Proc:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        self.log.close()

    def kill(self) -> None:
        """kill -9, the process group (a worker's scheduler child too)."""
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


def start_daphne(log_dir: Path, name: str = "daphne", **env: Any) -> tuple[Proc, str]:
    port = free_port()
    # the site's server: Daphne with its per-socket output limit (callsite/daphne_server.py)
    args = [
        sys.executable,
        "-m",
        "callsite.daphne_server",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "--ping-interval",
        str(env.pop("ping_interval", 20)),
        "--ping-timeout",
        str(env.pop("ping_timeout", 30)),
        *env.pop("flags", []),
        "callsite.asgi:application",
    ]
    proc = Proc(name, args, process_env(**env), log_dir)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{proc.output()}")
        try:
            requests.get(base + "/api/openapi.json", timeout=1)
            return proc, base
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow to answer its first request
            time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"{name} did not start:\n{proc.output()}")


def start_worker(log_dir: Path, name: str = "rqworker", **env: Any) -> Proc:
    args = [sys.executable, "manage.py", "rqworker", settings.CALL_QUEUE, "--with-scheduler"]
    proc = Proc(name, args, process_env(**env), log_dir)
    deadline = time.time() + 30
    while time.time() < deadline and "Listening on" not in proc.output():
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{proc.output()}")
        time.sleep(0.1)
    return proc
