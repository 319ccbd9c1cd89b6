"""The rate limits hold over any window of their length, wherever it starts
(invitations/accounts/ratelimit.py, a sliding log per counter in the real Redis).
The clock is controlled (time-machine, with the limiter set to read Python's
clock instead of Redis's), so nothing here depends on when the test runs; the
parallel bursts and the hosts with skewed clocks run on Redis's clock."""

import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import time_machine
from django.test import Client

from invitations.accounts import ratelimit
from invitations.calls.errors import CallError
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

# A whole minute, and a whole 5 minutes, since the epoch: where a fixed window ends.
BOUNDARY = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
CALLER = SimpleNamespace(pk=9001)


@pytest.fixture(autouse=True)
def python_clock(monkeypatch):
    """The limiter reads Python's clock, which time-machine moves."""
    monkeypatch.setattr(ratelimit, "clock", time.time)


@pytest.fixture
def redis_clock(python_clock, monkeypatch):
    """The limiter reads Redis's clock, as in production."""
    monkeypatch.setattr(ratelimit, "clock", None)


def invitations_allowed(count: int, invitees: int = 1, user=CALLER) -> int:
    allowed = 0
    for _ in range(count):
        try:
            ratelimit.invitation_attempt(user, invitees=invitees)
            allowed += 1
        except CallError as refused:
            assert refused.reason == "rate_limited"
    return allowed


def signals_allowed(count: int) -> int:
    allowed = 0
    for _ in range(count):
        try:
            ratelimit.signal_attempt(CALLER)
            allowed += 1
        except CallError:
            pass
    return allowed


def test_a_burst_across_a_minute_boundary_is_refused(settings):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 30
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 0
    with time_machine.travel(BOUNDARY - timedelta(seconds=0.5), tick=False) as clock:
        before = invitations_allowed(60)
        clock.shift(1)  # half a second after the boundary
        after = invitations_allowed(60)
    print(f"invitations, limit 30/min: {before} allowed 0.5 s before a minute boundary, {after} 0.5 s after it")
    assert (before, after) == (30, 0)


def test_invitees_across_a_boundary(settings):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 0
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 10
    with time_machine.travel(BOUNDARY - timedelta(seconds=1), tick=False) as clock:
        assert invitations_allowed(3, invitees=3) == 3  # 9 invitees
        clock.shift(2)
        assert invitations_allowed(1, invitees=2) == 0, "9 + 2 invitees within 2 s of each other"
        assert invitations_allowed(1, invitees=1) == 1
        assert invitations_allowed(1, invitees=1) == 0


def test_signals_across_a_boundary(settings):
    settings.CALL_SIGNAL_RATE_PER_MINUTE = 50
    with time_machine.travel(BOUNDARY - timedelta(seconds=0.2), tick=False) as clock:
        before = signals_allowed(100)
        clock.shift(0.4)
        after = signals_allowed(100)
    assert (before, after) == (50, 0)


def test_the_budget_comes_back_as_each_attempt_turns_a_minute_old(settings):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 3
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 0
    with time_machine.travel(BOUNDARY, tick=False) as clock:
        for offset in (0, 10, 20):  # one attempt at 12:00:00, :10 and :20
            clock.move_to(BOUNDARY + timedelta(seconds=offset))
            assert invitations_allowed(1) == 1
        clock.move_to(BOUNDARY + timedelta(seconds=59.999))
        assert invitations_allowed(5) == 0
        # a minute after each attempt, exactly its slot is free again
        for offset in (60, 70, 80):
            clock.move_to(BOUNDARY + timedelta(seconds=offset))
            assert invitations_allowed(5) == 1, f"at +{offset} s"
        clock.move_to(BOUNDARY + timedelta(seconds=119.999))
        assert invitations_allowed(5) == 0
        clock.move_to(BOUNDARY + timedelta(seconds=140))
        assert invitations_allowed(5) == 3


def test_any_window_holds_the_limit_and_no_more_is_refused(settings):
    """RATE_WINDOW_ATTEMPTS (default 400; nightly more) random attempts, 1.5 s
    apart on average: no 60 s window holds more than the limit, and an attempt
    is refused only if the 60 s before it already hold the limit (a sliding log
    is exact)."""
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 7
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 0
    attempts = int(os.environ.get("RATE_WINDOW_ATTEMPTS", "400"))
    seed = int(os.environ.get("RATE_WINDOW_SEED", "20301"))
    rng = random.Random(seed)
    span = attempts * 1.5
    times = sorted(rng.uniform(0, span) for _ in range(attempts))
    allowed_at: list[float] = []
    refused = 0
    with time_machine.travel(BOUNDARY - timedelta(seconds=7), tick=False) as clock:
        for at in times:
            clock.move_to(BOUNDARY - timedelta(seconds=7) + timedelta(seconds=at))
            in_last_minute = sum(1 for t in allowed_at[-20:] if at - t < 60)
            if invitations_allowed(1):
                allowed_at.append(at)
                assert in_last_minute < 7
            else:
                refused += 1
                assert in_last_minute == 7, f"refused at +{at:.3f} s with {in_last_minute} in the minute before"
    for i, start in enumerate(allowed_at):
        assert sum(1 for t in allowed_at[i : i + 8] if t - start < 60) <= 7
    print(
        f"{attempts} random attempts over {span:.0f} s (seed {seed}), limit 7 in any 60 s: "
        f"{len(allowed_at)} allowed, {refused} refused, each refusal with exactly 7 in the minute before"
    )
    assert refused > 0 and len(allowed_at) > 7 * span / 120  # the limit is met, and the refusals were exact


def _sign_in(address: str, password: str) -> int:
    return (
        Client(REMOTE_ADDR=address)
        .post("/api/auth/token", {"username": "alice", "password": password}, content_type="application/json")
        .status_code
    )


@pytest.mark.usefixtures("fast_passwords")
def test_password_guesses_across_a_window_boundary(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 10
    settings.RATE_LIMIT_AUTH_FAILURES_PER_IP = 1000
    settings.RATE_LIMIT_AUTH_WINDOW_SECONDS = 300
    with time_machine.travel(BOUNDARY - timedelta(seconds=1), tick=False) as clock:
        before = [_sign_in("198.51.100.66", "wrong") for _ in range(20)]
        clock.shift(2)  # a 5-minute boundary passed
        after = [_sign_in("198.51.100.66", "wrong") for _ in range(20)]
        print(
            f"sign-in guesses, 10 per 300 s: {before.count(401)} reached the password check "
            f"1 s before a 5-minute boundary, {after.count(401)} 1 s after it"
        )
        assert (before.count(401), after.count(401)) == (10, 0)
        assert _sign_in("198.51.100.66", PASSWORD) == 429
        # 300 s after the guesses, their slots are free again
        clock.move_to(BOUNDARY - timedelta(seconds=1) + timedelta(seconds=299.9))
        assert _sign_in("198.51.100.66", PASSWORD) == 429
        clock.move_to(BOUNDARY - timedelta(seconds=1) + timedelta(seconds=300))
        assert _sign_in("198.51.100.66", PASSWORD) == 200


@pytest.mark.usefixtures("fast_passwords")
def test_a_successful_sign_in_gives_back_only_its_own_slot(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 3
    settings.RATE_LIMIT_AUTH_FAILURES_PER_IP = 1000
    with time_machine.travel(BOUNDARY, tick=False) as clock:
        assert [_sign_in("198.51.100.7", "wrong") for _ in range(2)] == [401, 401]
        clock.shift(1)
        assert _sign_in("198.51.100.7", PASSWORD) == 200  # within the limit: taken, then given back
        assert [_sign_in("198.51.100.7", "wrong") for _ in range(2)] == [401, 429]


def test_parallel_threads_cannot_slip_past(settings):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 10
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 0
    start = threading.Barrier(16)
    results: list[int] = []

    def attempt() -> None:
        start.wait()
        results.append(invitations_allowed(4))

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"16 threads x 4 invitations at once, limit 10: {sum(results)} allowed")
    assert sum(results) == 10


BURST = """
import sys
from types import SimpleNamespace

import django
django.setup()
from invitations.accounts import ratelimit
from invitations.calls.errors import CallError

print("ready", flush=True)
sys.stdin.readline()
allowed = 0
for _ in range(int(sys.argv[1])):
    try:
        ratelimit.invitation_attempt(SimpleNamespace(pk=9002), invitees=2)
        allowed += 1
    except CallError:
        pass
print(allowed, flush=True)
"""


@pytest.mark.slow
@pytest.mark.usefixtures("redis_clock")
def test_parallel_processes_cannot_slip_past(settings):
    """Four processes (as four web processes would) invite at once, each with its own connection."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="callsite.settings",
        RATE_LIMIT_INVITES_PER_MINUTE="25",
        RATE_LIMIT_INVITEES_PER_MINUTE="40",
        REDIS_PREFIX=settings.REDIS_PREFIX,
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", BURST, "20"], env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for _ in range(4)
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready"
        for process in processes:  # go, all at once
            process.stdin.write("go\n")
            process.stdin.flush()
        allowed = [int(process.stdout.readline()) for process in processes]
    finally:
        for process in processes:
            process.stdin.close()
            process.wait(30)
    print(
        f"4 processes x 20 invitations of 2 invitees at once, limits 25 invitations and "
        f"40 invitees a minute: {sum(allowed)} allowed ({allowed})"
    )
    assert sum(allowed) == 20  # the invitee limit: 40 / 2


@pytest.mark.usefixtures("redis_clock")
def test_web_processes_whose_clocks_differ_share_one_window(settings):
    """Two hosts, one 61 s ahead of the other: the limit still holds, since the time
    is Redis's, not each process's own (which would let the one ahead start afresh)."""
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 5
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 0
    settings.CALL_SIGNAL_RATE_PER_MINUTE = 5
    caller = SimpleNamespace(pk=9003)
    here = datetime.now(UTC)
    with time_machine.travel(here, tick=True):
        assert invitations_allowed(5, user=caller) == 5
        assert signals_allowed(5) == 5
    with time_machine.travel(here + timedelta(seconds=61), tick=True):  # the host ahead
        assert invitations_allowed(3, user=caller) == 0
        assert signals_allowed(3) == 0
    with time_machine.travel(here - timedelta(seconds=61), tick=True):  # the host behind
        assert invitations_allowed(3, user=caller) == 0


@pytest.mark.usefixtures("redis_clock")
@pytest.mark.usefixtures("fast_passwords")
def test_sign_in_limits_on_skewed_hosts(settings, alice):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = 3
    here = datetime.now(UTC)
    with time_machine.travel(here, tick=True):
        assert [_sign_in("198.51.100.77", "wrong") for _ in range(3)] == [401] * 3
    # a host ahead by more than the window: the failures still count (Redis's clock)
    with time_machine.travel(here + timedelta(seconds=settings.RATE_LIMIT_AUTH_WINDOW_SECONDS + 5), tick=True):
        assert _sign_in("198.51.100.77", PASSWORD) == 429


@pytest.mark.usefixtures("redis_clock")
def test_a_hammered_log_holds_the_limit_and_no_more(settings):
    """Refused attempts add nothing: an attacker's flood leaves at most `limit` entries
    per log, and the log expires a window (and 1 s) after its last attempt."""
    settings.CALL_SIGNAL_RATE_PER_MINUTE = 50
    caller = SimpleNamespace(pk=9004)
    key = ratelimit._key("signal", "9004")
    allowed = 0
    for _ in range(500):
        try:
            ratelimit.signal_attempt(caller)
            allowed += 1
        except CallError:
            pass
    client = ratelimit._redis()
    assert allowed == 50 and client.zcard(key) == 50
    assert 59_000 < client.pttl(key) <= 61_000
