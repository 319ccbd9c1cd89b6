"""Two sites on one Redis, neither with REDIS_PREFIX or CALL_QUEUE set: Redis pub/sub
ignores the database number, so only the default prefix (derived from the site's
database and Redis database) keeps one site's calls from ringing the other's users."""

import asyncio
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

from tests.conftest import PASSWORD
from tests.processes import ROOT, database_url, process_env, start_daphne
from tests.wsclient import Client, api_token

DEFAULTS = {"REDIS_PREFIX": None, "CALL_QUEUE": None}  # unset: each site's own default
QUIET_SECONDS = 3.0  # how long the other site's socket must stay silent once the call rang


def next_redis_db(url: str) -> str:
    """The same Redis, the next database number."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + 1) % 16}"))


def names(**env: str) -> list[str]:
    """REDIS_PREFIX and CALL_QUEUE as a process with this environment sees them."""
    code = "import django; django.setup(); from django.conf import settings; print(settings.REDIS_PREFIX, settings.CALL_QUEUE)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=process_env(**{**DEFAULTS, "SECRET_KEY": "k" * 50, **env}),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_default_prefix_and_queue_are_the_sites_own():
    site = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/site_a", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    prefix, queue = names(**site)
    assert prefix.startswith("callsite-") and queue == prefix
    # Every process of the site agrees (also with other credentials or options on the URLs).
    assert names(**site) == [prefix, queue]
    assert names(
        DATABASE_URL="postgres://someone:secret@127.0.0.1:5432/site_a?sslmode=prefer",
        REDIS_URL="redis://:pw@127.0.0.1:6379/0",
    ) == [prefix, queue]
    # Another Redis database number, another database: another site.
    assert names(**{**site, "REDIS_URL": "redis://127.0.0.1:6379/1"})[0] != prefix
    assert names(**{**site, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/site_b"})[0] != prefix
    # Set explicitly, both are taken as they are.
    assert names(**site, REDIS_PREFIX="mine") == ["mine", "mine"]
    assert names(**site, REDIS_PREFIX="mine", CALL_QUEUE="jobs") == ["mine", "jobs"]


def run_on(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def connect(base: str, username: str) -> Client:
    token = await asyncio.to_thread(api_token, base, username, PASSWORD)
    return await Client.connect(base, token, device_id=f"{username}-1")


@pytest.fixture
def site_b_database():
    """A database of its own on the test database's server (made empty, dropped after): its URL."""
    db = connection.settings_dict
    name = f"{db['NAME']}_site_b"
    with psycopg.connect(database_url({**db, "NAME": "postgres"}), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield database_url({**db, "NAME": name})
    with psycopg.connect(database_url({**db, "NAME": "postgres"}), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_a_call_on_one_site_never_reaches_the_other(site_b_database, process_logs, alice, bob):
    # Site B: its own database and the next Redis database number, with a user "bob"
    # whose id is the same as site A's bob: the channel group both would use.
    url_b = site_b_database
    redis_b = next_redis_db(settings.REDIS_URL)
    env_b = process_env(DATABASE_URL=url_b, REDIS_URL=redis_b, **DEFAULTS)
    await asyncio.to_thread(run_on, env_b, "migrate", "--noinput", "-v", "0")
    await asyncio.to_thread(
        run_on,
        env_b,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user('bob', password={PASSWORD!r}, id={bob.pk})",
    )

    # Its worker, started as the README says (no queue named), takes site B's own queue.
    worker = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "manage.py", "rqworker", "--burst"],
        cwd=ROOT,
        env=env_b,
        capture_output=True,
        text=True,
        timeout=120,
    )
    queue_b = names(DATABASE_URL=url_b, REDIS_URL=redis_b)[1]
    assert f"Listening on {queue_b}" in worker.stdout + worker.stderr, worker.stdout + worker.stderr

    site_a, base_a = await asyncio.to_thread(start_daphne, process_logs, name="site-a", **DEFAULTS)
    site_b, base_b = await asyncio.to_thread(
        start_daphne, process_logs, name="site-b", DATABASE_URL=url_b, REDIS_URL=redis_b, **DEFAULTS
    )
    try:
        caller = await connect(base_a, "alice")
        callee_a = await connect(base_a, "bob")
        callee_b = await connect(base_b, "bob")
        result = await caller.cmd("callInvite", invitees=["bob"])
        assert result["ok"], result
        call_id = result["data"]["callID"]
        await callee_a.event("callInvitationReceived", callID=call_id)  # it was published
        with pytest.raises(asyncio.TimeoutError):
            await callee_b.event("callInvitationReceived", timeout=QUIET_SECONDS)
        assert [f for f in callee_b.events if f["data"].get("callID") == call_id] == []
        for client in (caller, callee_a, callee_b):
            await client.close()
    finally:
        site_a.stop()
        site_b.stop()
    logs = site_a.log_path.read_text(errors="replace") + site_b.log_path.read_text(errors="replace")
    assert "Traceback" not in logs, logs
