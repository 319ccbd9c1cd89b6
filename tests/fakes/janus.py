"""Real Janus servers for the tests (Debian's `janus`, installed by scripts/test):
a configs folder written per run, the process started on it (callsite/devjanus.py).

`janus_server` (session scope) runs one for the whole run; `spare_janus` starts
another for one test (a test may kill it: a server that stops answering). `sfu`
points the site's settings at the session's server. Without `janus` installed these
tests are skipped, saying how to get it.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from callsite.devjanus import JanusProcess, JanusSettings, janus_binary

TOKEN_SECRET = secrets.token_urlsafe(24)
ADMIN_KEY = secrets.token_urlsafe(24)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_janus(workdir: Path) -> JanusProcess:
    if janus_binary() is None:
        pytest.skip("Janus is not installed: apt-get install janus (scripts/test installs it)")
    workdir.mkdir(parents=True, exist_ok=True)
    return JanusProcess(
        JanusSettings(ws_port=free_port(), token_secret=TOKEN_SECRET, admin_key=ADMIN_KEY), workdir
    ).start()


@pytest.fixture(scope="session")
def janus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JanusProcess]:
    janus = start_janus(tmp_path_factory.mktemp("janus"))
    yield janus
    janus.stop()


@pytest.fixture
def spare_janus(tmp_path: Path) -> Iterator[JanusProcess]:
    janus = start_janus(tmp_path / "spare-janus")
    yield janus
    janus.kill()


def site_environment(*servers: JanusProcess) -> dict[str, str]:
    """The settings of a site (a Daphne or worker the tests start: tests/processes.py) that
    uses these servers: `start_daphne(logs, **site_environment(janus_server))`."""
    return {
        "CALL_SFU_URLS": ",".join(janus.url for janus in servers),
        "CALL_SFU_TOKEN_SECRET": TOKEN_SECRET,
        "CALL_SFU_ADMIN_KEY": ADMIN_KEY,
    }


@pytest.fixture
def sfu(settings, janus_server: JanusProcess) -> JanusProcess:
    """The site uses the session's Janus as its one media server."""
    settings.CALL_SFU_URLS = [janus_server.url]
    settings.CALL_SFU_TOKEN_SECRET = TOKEN_SECRET
    settings.CALL_SFU_ADMIN_KEY = ADMIN_KEY
    return janus_server
