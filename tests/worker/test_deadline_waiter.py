"""The worker's deadline waiter (worker.DeadlineWaiter): woken by announced
deadlines, keeps them until they pass, never expires early, never twice when
several run (threads here, real rqworker processes below), and loses nothing
when one of them dies. Real PostgreSQL, real Redis."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import django_rq
import pytest
from django.conf import settings
from django.utils import timezone

from invitations.calls import actions, deadlines
from invitations.calls.states import CallUserState as S
from invitations.models import CallEvent, CallUser
from invitations.worker import scheduling
from invitations.worker.runner import DeadlineWaiter
from tests.processes import start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def redis():
    scheduling._announcer.reset()
    yield django_rq.get_queue(settings.CALL_QUEUE).connection
    scheduling._announcer.reset()


@pytest.fixture
def waiters(redis):
    """Start DeadlineWaiters in this process (each a thread with its own database connection)."""
    stop = threading.Event()
    started: list[DeadlineWaiter] = []

    def start(n: int = 1, **attrs) -> list[DeadlineWaiter]:
        for _ in range(n):
            waiter = DeadlineWaiter(stop, redis)
            for name, value in attrs.items():
                setattr(waiter, name, value)
            waiter.start()
            started.append(waiter)
        time.sleep(0.3)  # subscribed and asleep
        return started[-n:]

    yield start
    stop.set()
    for waiter in started:
        waiter.join(15)
        assert not waiter.is_alive()


def timeouts() -> list[tuple[int, str, object]]:
    """(call pk, username, logged at) of every timeout in the log."""
    return list(CallEvent.objects.filter(to_state=S.TIMEOUT).values_list("call_id", "user__username", "created_at"))


def assert_each_once_never_early(expected: int) -> None:
    rows = timeouts()
    twice = [k for k, n in Counter((c, u) for c, u, _ in rows).items() if n > 1]
    assert not twice, f"expired more than once: {twice}"
    assert len(rows) == expected
    deadlines = {
        (m.call_id, m.user.username): m.deadline
        for m in CallUser.objects.filter(state=S.TIMEOUT).select_related("user")
    }
    assert len(deadlines) == expected
    early = [(c, u) for c, u, at in rows if at < deadlines[(c, u)]]
    assert not early, f"expired before the deadline: {early}"


def _wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_woken_by_a_nearer_deadline(waiters, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    [waiter] = waiters(MAX_SLEEP_SECONDS=60.0)  # only a message can shorten its sleep
    actions.call_invite(user=alice, invitees=["bob"], timeout=1)
    deadline = CallUser.objects.get(user=bob).deadline
    assert _wait_for(lambda: CallUser.objects.get(user=bob).state == S.TIMEOUT, 10)
    assert waiter.wakeups == 1 and waiter.expired == 1
    assert_each_once_never_early(1)
    # woken, then slept until the deadline (not the 60 s it would have without the message)
    assert CallEvent.objects.get(to_state=S.TIMEOUT).created_at - deadline < timedelta(seconds=5)


def test_an_announced_deadline_is_kept_until_it_passes(waiters, make_user, redis):
    """A process announces A; A's invitation is answered before the waiter reads the
    column; a later deadline D >= A is then written and NOT announced (A is still
    ahead). The waiter must look again at A, find D, and expire it at D, not after
    its longest sleep."""
    alice, bob = make_user("alice"), make_user("bob")
    [waiter] = waiters(MAX_SLEEP_SECONDS=60.0)
    a = timezone.now() + timedelta(seconds=1.5)
    assert scheduling.announce_deadline(a)  # its invitation is gone by the time the waiter reads
    time.sleep(0.3)  # the waiter has read the column (empty) and sleeps towards A
    actions.call_invite(user=alice, invitees=["bob"], timeout=2)
    deadline = CallUser.objects.get(user=bob).deadline
    assert deadline >= a
    assert waiter.wakeups == 1  # the message for A only: D was not announced
    assert _wait_for(lambda: CallUser.objects.get(user=bob).state == S.TIMEOUT, 10)
    assert CallEvent.objects.get(to_state=S.TIMEOUT).created_at - deadline < timedelta(seconds=5)
    assert_each_once_never_early(1)


def test_not_told_at_all_it_still_reads_the_column(waiters, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    [waiter] = waiters(MAX_SLEEP_SECONDS=2.0)
    # as if an earlier deadline had been announced and its message lost: D is not announced
    scheduling._announcer.needed(time.time() + 2.5, time.time())
    actions.call_invite(user=alice, invitees=["bob"], timeout=3)
    time.sleep(0.3)
    assert waiter.wakeups == 0
    assert _wait_for(lambda: CallUser.objects.get(user=bob).state == S.TIMEOUT, 10)
    assert_each_once_never_early(1)


def test_a_garbled_message_only_makes_it_look(waiters, redis, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    [waiter] = waiters(MAX_SLEEP_SECONDS=60.0)
    actions.call_invite(user=alice, invitees=["bob"], timeout=30)
    for garbage in (b"", b"x" * 100, b"\x00\xff", b"-1", b"99999999999999999999"):
        redis.publish(scheduling.deadline_channel(), garbage)
    time.sleep(0.5)
    assert waiter.is_alive() and waiter.expired == 0
    assert CallUser.objects.get(user=bob).state == S.INVITING


def test_two_waiters_share_a_burst_without_doubling(waiters, make_user):
    """60 calls x 3 invitees, all due at once: each invitation expires exactly once, none early."""
    invitees = [make_user(f"i{k}") for k in range(9)]
    callers = [make_user(f"c{k}") for k in range(60)]
    for k, caller in enumerate(callers):
        actions.call_invite(user=caller, invitees=[invitees[(k + j) % 9].username for j in range(3)], timeout=60)
    first, second = waiters(2, MAX_SLEEP_SECONDS=60.0)
    CallUser.objects.filter(state=S.INVITING).update(deadline=timezone.now() + timedelta(seconds=1))
    # the announcement of a nearer deadline wakes both
    scheduling.announce_deadline(CallUser.objects.filter(state=S.INVITING).first().deadline)
    assert _wait_for(lambda: not CallUser.objects.filter(state=S.INVITING).exists(), 20)
    time.sleep(0.5)
    assert first.expired + second.expired == 180
    assert_each_once_never_early(180)


# --- real worker processes -----------------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_never_double_and_one_dying_loses_nothing(make_user, process_logs):
    """Two rqworkers (each with its waiter) on one database: a burst is expired once;
    one is killed -9; what is then due is expired by the other at its deadline,
    with the sweeps too slow to be the ones doing it."""
    env = {"CALL_SWEEP_INTERVAL_SECONDS": 120}  # the sweeps run at start only
    invitees = [make_user(f"i{k}") for k in range(9)]
    callers = [make_user(f"c{k}") for k in range(40)]
    one = start_worker(process_logs, name="rqworker-1", **env)
    two = start_worker(process_logs, name="rqworker-2", **env)
    try:
        time.sleep(1.0)  # both waiters subscribed
        for k, caller in enumerate(callers[:30]):
            actions.call_invite(user=caller, invitees=[invitees[(k + j) % 9].username for j in range(3)], timeout=2)
        assert _wait_for(lambda: not CallUser.objects.filter(state=S.INVITING).exists(), 30), (
            one.output() + two.output()
        )
        assert_each_once_never_early(90)
        one.kill()  # kill -9: whatever it announced or held is gone with it
        started = time.time()
        for k, caller in enumerate(callers[30:]):
            actions.call_invite(user=caller, invitees=[invitees[(k + j) % 9].username for j in range(3)], timeout=2)
        assert _wait_for(lambda: not CallUser.objects.filter(state=S.INVITING).exists(), 30), two.output()
        # the survivor's waiter did it, well before any sweep would have
        assert time.time() - started < 30
        latest = max(at for _, _, at in timeouts())
        last_deadline = CallUser.objects.filter(state=S.TIMEOUT).order_by("-deadline").first().deadline
        assert latest - last_deadline < timedelta(seconds=10)
        assert_each_once_never_early(120)
        assert "Traceback" not in two.output()
    finally:
        one.stop()
        two.stop()


def test_a_burst_in_several_streams_expires_each_once(make_user):
    """invitations_expire_due(streams=3): concurrent transactions over shares of the due calls
    expire each invitation once, none early, the rest untouched."""
    invitees = [make_user(f"i{k}") for k in range(9)]
    callers = [make_user(f"c{k}") for k in range(120)]
    for k, caller in enumerate(callers):
        actions.call_invite(user=caller, invitees=[invitees[(k + j) % 9].username for j in range(3)], timeout=60)
    due = CallUser.objects.filter(state=S.INVITING, call__caller__in=callers[:100])
    due.update(deadline=timezone.now())
    assert deadlines.invitations_expire_due(streams=3) == 300
    assert_each_once_never_early(300)
    assert CallUser.objects.filter(state=S.INVITING).count() == 60  # not due: left alone
    assert deadlines.invitations_expire_due(streams=3) == 0
