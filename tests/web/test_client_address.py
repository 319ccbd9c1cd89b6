"""The client address behind the shipped deployment.

A real Daphne started with the flags of deploy/callsite-web@.service and the
TRUSTED_PROXY_COUNT of deploy/production.env.example, guessed at with a
fresh forged X-Forwarded-For on every request, the way a client reaches
nginx's `$proxy_add_x_forwarded_for`: only the per-address limit's worth of
guesses may reach the password check, and another client behind the same
proxy is not locked out. The same for a Daphne that faces clients directly
(TRUSTED_PROXY_COUNT=0).
"""

from __future__ import annotations

import os
import shlex

import pytest
import requests

from tests.conftest import PASSWORD
from tests.processes import ROOT, start_daphne

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GUESSES = int(os.environ.get("CLIENT_ADDRESS_GUESSES", 1000))
PER_ADDRESS = 10


def shipped_daphne_flags() -> list[str]:
    """The option flags the shipped systemd unit gives Daphne (bind and port aside)."""
    unit = (ROOT / "deploy" / "callsite-web@.service").read_text()
    line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(line.partition("=")[2])
    flags, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in ("-b", "-p", "--bind", "--port", "-m"):
            skip = True
        elif word.startswith("-"):
            flags.append(word)
    return flags


def shipped_env(name: str) -> str | None:
    for line in (ROOT / "deploy" / "production.env.example").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip()
    return None


def guess(base: str, forwarded_for: str | None, password: str = "wrong", username: str = "alice") -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    response = requests.post(
        base + "/api/auth/token", json={"username": username, "password": password}, headers=headers, timeout=30
    )
    assert response.status_code in (200, 401, 429), response.text
    return response.status_code


def _site(process_logs, name: str, proxies: str) -> tuple:
    return start_daphne(
        process_logs,
        name=name,
        flags=shipped_daphne_flags(),
        TRUSTED_PROXY_COUNT=proxies,
        RATE_LIMIT_AUTH_FAILURES_PER_IP=PER_ADDRESS,
        RATE_LIMIT_AUTH_FAILURES_PER_USERNAME=GUESSES * 10,
    )


def test_direct_forged_forwarded_for(make_user, process_logs):
    make_user("alice")
    daphne, base = _site(process_logs, "direct", "0")
    try:
        answers = [guess(base, f"10.{i // 250}.{i % 250}.1") for i in range(GUESSES)]
    finally:
        daphne.stop()
    reached = answers.count(401)
    print(f"direct: {GUESSES} guesses with forged X-Forwarded-For, {reached} reached the password check")
    assert reached == PER_ADDRESS and answers.count(429) == GUESSES - PER_ADDRESS


def test_behind_one_proxy_forged_forwarded_for(make_user, process_logs):
    proxies = shipped_env("TRUSTED_PROXY_COUNT")
    assert proxies == "1", "the shipped env example names one trusted proxy (nginx)"
    make_user("alice")
    make_user("bob")
    daphne, base = _site(process_logs, "proxied", proxies)
    try:
        # nginx appends the address it saw: the attacker's forged list, then 203.0.113.9
        answers = [guess(base, f"10.{i // 250}.{i % 250}.1, 203.0.113.9") for i in range(GUESSES)]
        # another client behind the same proxy is not the attacker
        other = guess(base, "203.0.113.10", password=PASSWORD, username="bob")
    finally:
        daphne.stop()
    reached = answers.count(401)
    print(f"behind one proxy: {GUESSES} guesses with forged X-Forwarded-For, {reached} reached the password check")
    assert reached == PER_ADDRESS and answers.count(429) == GUESSES - PER_ADDRESS
    assert other == 200
