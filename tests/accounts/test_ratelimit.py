"""Rate limits (invitations/accounts/ratelimit.py), counted in the real Redis: over the
limit the answer is `rate_limited` (429) and nothing changes. Every test here
starts just before a minute boundary (tests/accounts/test_ratelimit_windows.py has the
windows themselves)."""

import time
from datetime import UTC, datetime, timezone

import pytest
import time_machine
from django.test import Client

from invitations.accounts import ratelimit, token_actions
from invitations.calls import actions
from invitations.calls.errors import CallError
from invitations.models import ApiToken, Call, CallUser
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def just_before_a_minute_boundary():
    """The clock runs on from 0.3 s before a whole minute (and 5 minutes): a limit
    counted in fixed windows would start afresh in the middle of each test."""
    with time_machine.travel(datetime(2030, 1, 1, 11, 59, 59, 700000, tzinfo=UTC), tick=True):
        yield


@pytest.fixture(autouse=True)
def python_clock(monkeypatch):
    """The limiter reads Python's clock (which time-machine moves), not Redis's."""
    monkeypatch.setattr(ratelimit, "clock", time.time)


def _bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_actions.api_token_create(user=user)}"}


def test_invitations_per_minute(settings, alice, bob, carol, dave):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 3
    http = Client()
    auth = _bearer(alice)
    for _ in range(3):
        response = http.post("/api/calls", {"invitees": ["bob"]}, content_type="application/json", **auth)
        assert response.status_code == 200, response.content
        call_id = response.json()["callID"]
        actions.call_cancel(user=alice, call_id=call_id)
    calls, members = Call.objects.count(), CallUser.objects.count()
    response = http.post("/api/calls", {"invitees": ["bob"]}, content_type="application/json", **auth)
    assert response.status_code == 429
    assert response.json() == {
        "error": {"code": None, "reason": "rate_limited", "message": "at most 3 invitations per minute"}
    }
    assert (Call.objects.count(), CallUser.objects.count()) == (calls, members)
    # callingInvite counts too; other users have their own budget
    with pytest.raises(CallError) as refused:
        actions.calling_invite(user=alice, call_id=call_id, invitees=["carol"])
    assert refused.value.reason == "rate_limited"
    assert actions.call_invite(user=dave, invitees=["carol"])["callID"]


def test_limit_zero_is_off(settings, alice, bob):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 0
    for _ in range(5):
        call_id = actions.call_invite(user=alice, invitees=["bob"])["callID"]
        actions.call_cancel(user=alice, call_id=call_id)


def test_token_attempts_per_username(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 3
    http = Client()
    for _ in range(3):
        response = http.post(
            "/api/auth/token", {"username": "alice", "password": "wrong"}, content_type="application/json"
        )
        assert response.status_code == 401
    tokens = ApiToken.objects.count()
    # now even the right password is refused, and no token is made
    response = http.post(
        "/api/auth/token", {"username": "alice", "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 429 and response.json()["error"]["reason"] == "rate_limited"
    assert ApiToken.objects.count() == tokens


def test_token_attempts_per_ip(settings, alice, bob):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_IP = 4
    http = Client(REMOTE_ADDR="10.1.2.3")
    for name in ("u1", "u2", "u3", "u4"):  # spraying usernames from one address
        assert (
            http.post(
                "/api/auth/token", {"username": name, "password": "x"}, content_type="application/json"
            ).status_code
            == 401
        )
    response = http.post("/api/auth/token", {"username": "bob", "password": PASSWORD}, content_type="application/json")
    assert response.status_code == 429
    # another address is not affected
    other = Client(REMOTE_ADDR="10.9.9.9")
    assert (
        other.post(
            "/api/auth/token", {"username": "bob", "password": PASSWORD}, content_type="application/json"
        ).status_code
        == 200
    )


def test_login_page_attempts(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 3
    browser = Client()
    for _ in range(3):
        response = browser.post("/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200 and "_auth_user_id" not in browser.session
    response = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in browser.session, "a blocked login got in"
    # below the limit the right password works (a fresh window)
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 10
    response = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in browser.session


def test_redis_away_fails_open(settings, alice, bob):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 1
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        for _ in range(3):
            call_id = actions.call_invite(user=alice, invitees=["bob"])["callID"]
            actions.call_cancel(user=alice, call_id=call_id)
    finally:
        ratelimit._client = None


def test_a_redis_that_stops_answering_costs_one_timeout_not_one_per_attempt(settings, alice, bob):
    """A Redis that accepts connections and never answers (stalled, or a network that
    drops packets): the limiter fails open after its 1 s timeout once, and then does
    not ask again for a while, instead of making every attempt wait a second."""
    import socket
    import time as clock

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing is ever read or answered
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 1
    settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    try:
        started = clock.monotonic()
        for _ in range(5):
            ratelimit.invitation_attempt(alice)
            ratelimit.signal_attempt(alice)
        took = clock.monotonic() - started
    finally:
        silent.close()
        ratelimit._client = None
    print(f"10 attempts against a silent Redis took {took:.2f} s")
    assert took < 2.5


def _token_attempt(address: str, username: str, password: str) -> int:
    return (
        Client(REMOTE_ADDR=address)
        .post("/api/auth/token", {"username": username, "password": password}, content_type="application/json")
        .status_code
    )


def test_flood_against_one_name_does_not_lock_it_out_elsewhere(settings, bob):
    """The per-account limit is per (username, client address)."""
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 10
    settings.RATE_LIMIT_AUTH_FAILURES_PER_IP = 1000
    flood = [_token_attempt("198.51.100.66", "bob", "wrong") for _ in range(50)]
    assert flood.count(401) == 10 and flood.count(429) == 40
    # bob, from his own address, still gets in; from the attacker's he does not
    assert _token_attempt("198.51.100.7", "bob", PASSWORD) == 200
    assert _token_attempt("198.51.100.66", "bob", PASSWORD) == 429


def test_global_limit_per_address(settings, alice, bob):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 10
    settings.RATE_LIMIT_AUTH_FAILURES_PER_IP = 5
    spray = [_token_attempt("198.51.100.66", f"user{i}", "wrong") for i in range(20)]
    assert spray.count(401) == 5 and spray.count(429) == 15
    assert _token_attempt("198.51.100.66", "alice", PASSWORD) == 429
    assert _token_attempt("198.51.100.7", "alice", PASSWORD) == 200


def test_success_does_not_count_as_failure(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 2
    for _ in range(5):
        assert _token_attempt("198.51.100.7", "alice", PASSWORD) == 200
    assert _token_attempt("198.51.100.7", "alice", "wrong") == 401


@pytest.mark.django_db(transaction=True)
def test_parallel_burst_stays_within_the_limit(settings, make_user):
    """Check and count are one atomic step: a burst of parallel wrong guesses
    (each password check takes a while) lets no more than the limit through."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    make_user("alice")
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 5
    settings.RATE_LIMIT_AUTH_FAILURES_PER_IP = 1000

    def attempt(_: int) -> int:
        try:
            return _token_attempt("198.51.100.66", "alice", "wrong")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(attempt, range(32)))
    print(f"parallel burst: 32 guesses, {answers.count(401)} reached the password check")
    assert answers.count(401) == 5 and answers.count(429) == 27


def test_invitees_per_minute(settings, alice, bob, carol, dave):
    """The invitees a user rings per minute are limited too;
    a refused invitation counts against neither limit."""
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 4
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 5
    first = actions.call_invite(user=alice, invitees=["bob", "carol", "dave"])["callID"]
    actions.call_cancel(user=alice, call_id=first)
    second = actions.call_invite(user=alice, invitees=["bob", "carol"])["callID"]
    actions.call_cancel(user=alice, call_id=second)
    calls = Call.objects.count()
    with pytest.raises(CallError) as refused:
        actions.call_invite(user=alice, invitees=["dave"])
    assert refused.value.reason == "rate_limited" and "5 invitees" in refused.value.message
    assert Call.objects.count() == calls
    # the refusal took no invitation slot: 2 of 4 used, so with more invitee room two more pass
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 100
    for _ in range(2):
        actions.call_cancel(user=alice, call_id=actions.call_invite(user=alice, invitees=["dave"])["callID"])
    with pytest.raises(CallError) as refused:
        actions.call_invite(user=alice, invitees=["dave"])
    assert "4 invitations" in refused.value.message


def test_the_invitee_limit_names_itself_when_the_invitation_limit_is_off(settings, alice):
    from invitations.accounts import ratelimit

    settings.RATE_LIMIT_INVITES_PER_MINUTE = 0
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 3
    ratelimit.invitation_attempt(alice, invitees=3)
    with pytest.raises(CallError) as refused:
        ratelimit.invitation_attempt(alice, invitees=1)
    assert refused.value.reason == "rate_limited"
    assert "invitees" in refused.value.message
