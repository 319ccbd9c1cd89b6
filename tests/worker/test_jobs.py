"""Deadline jobs: idempotent, harmless when early, late or doubled; the sweep
catches a lost job; scheduling goes to RQ (real Redis) and deadlines to the
waiters only after commit; the project's worker class executes them and
expires invitations at their deadlines (tests/worker/test_deadline_waiter.py has the rest)."""

import re
import threading
import time
from datetime import timedelta

import django_rq
import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rq.job import Job
from rq.scheduler import RQScheduler

from invitations.accounts import token_actions
from invitations.calls import actions
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import (
    Call,
    CallEvent,
    CallUser,
    Connection,
    DeviceAway,
    ServerProcess,
    UserPresence,
)
from invitations.realtime import presence
from invitations.worker import jobs, scheduling
from invitations.worker.runner import CallWorker

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def queue():
    """This run's call queue (tests/isolation.py), empty before and after."""
    q = django_rq.get_queue(settings.CALL_QUEUE)

    def clean() -> None:
        for registry in (q.scheduled_job_registry, q.failed_job_registry, q.finished_job_registry):
            for job_id in registry.get_job_ids():
                registry.remove(job_id, delete_job=True)
        q.empty()

    clean()
    yield q
    clean()


def snapshot() -> tuple:
    return (
        list(Call.objects.order_by("pk").values()),
        list(CallUser.objects.order_by("pk").values()),
        list(CallEvent.objects.order_by("pk").values()),
    )


def ms(at) -> int:
    return int(at.timestamp() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


def online(user, device: str = "d1") -> str:
    presence.server_process_heartbeat(server_id="jobs-test", host="test", pid=1)
    channel = f"jobs.{user.username}.{device}"
    presence.connection_open(user=user, device_id=device, channel_name=channel, server_id="jobs-test")
    return channel


def bob_member(call_id: str, bob) -> CallUser:
    return CallUser.objects.get(call__call_id=call_id, user=bob)


# --- idempotence, early and late -----------------------------------------------------------------


def test_expire_job_early_waits_for_the_deadline(alice, bob):
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=1)["callID"]
    deadline = ms(bob_member(call_id, bob).deadline)
    # RQ may start a job up to a second early: it waits, then acts, never before the deadline
    assert jobs.expire_invitations(deadline) == 1
    assert now_ms() >= deadline
    assert bob_member(call_id, bob).state == S.TIMEOUT
    before = snapshot()
    assert jobs.expire_invitations(deadline) == 0  # doubled
    assert snapshot() == before


def test_expire_job_long_before_the_deadline_does_nothing(alice, bob):
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=60)["callID"]
    deadline = ms(bob_member(call_id, bob).deadline)
    before = snapshot()
    started = time.monotonic()
    assert jobs.expire_invitations(deadline) == 0
    assert time.monotonic() - started < 1.5  # does not sleep for a far deadline
    assert snapshot() == before


def test_expire_job_late_and_after_an_answer(alice, bob, carol):
    call_id = actions.call_invite(user=alice, invitees=["bob", "carol"], timeout=60)["callID"]
    deadline = ms(bob_member(call_id, bob).deadline)
    actions.call_accept(user=bob, call_id=call_id)
    CallUser.objects.filter(call__call_id=call_id).update(deadline=timezone.now() - timedelta(minutes=5))
    assert jobs.expire_invitations(deadline) == 1  # late: carol only, bob already answered
    assert bob_member(call_id, bob).state == S.ACCEPTED
    assert CallUser.objects.get(call__call_id=call_id, user=carol).state == S.TIMEOUT
    before = snapshot()
    assert jobs.expire_invitations(deadline) == 0
    assert jobs.expire_invitations(0) == 0
    assert snapshot() == before


def test_not_received_job(alice, bob):
    call_id = actions.call_invite(user=alice, invitees=["bob"], enable_not_received_check=True)["callID"]
    at = ms(bob_member(call_id, bob).invited_at) + int(settings.CALL_NOT_RECEIVED_CHECK_SECONDS * 1000)
    before = snapshot()
    assert jobs.check_not_received(at) == 0  # early
    assert snapshot() == before
    CallUser.objects.filter(user=bob).update(invited_at=timezone.now() - timedelta(seconds=60))
    assert jobs.check_not_received(at) == 1
    assert bob_member(call_id, bob).state == S.NOT_YET_RECEIVED
    before = snapshot()
    assert jobs.check_not_received(at) == 0  # doubled
    assert snapshot() == before


def test_caller_offline_job(alice, bob):
    channel = online(alice)
    call_id = actions.call_invite(user=alice, invitees=["bob"])["callID"]
    presence.connection_close(channel_name=channel)
    at = ms(UserPresence.objects.get(user=alice).last_offline_at) + int(settings.CALL_HEARTBEAT_TIMEOUT_SECONDS * 1000)
    before = snapshot()
    assert jobs.check_caller_offline(alice.pk, at) == 0  # early
    assert jobs.check_caller_offline(bob.pk, at) == 0  # not a caller
    assert snapshot() == before
    UserPresence.objects.filter(user=alice).update(last_offline_at=timezone.now() - timedelta(minutes=5))
    assert jobs.check_caller_offline(alice.pk, at) == 1
    m = bob_member(call_id, bob)
    assert (m.state, m.reason) == (S.CANCELLED, "caller_offline")
    assert Call.objects.get(call_id=call_id).state == CallState.ENDED
    before = snapshot()
    assert jobs.check_caller_offline(alice.pk, at) == 0
    assert snapshot() == before


def test_member_away_job(queue, alice, bob, django_capture_on_commit_callbacks):
    """A call device's last socket closing schedules the member-away check at the heartbeat timeout."""
    online(alice, "a1")
    channel = online(bob, "b1")
    call_id = actions.call_invite(user=alice, invitees=["bob"], mode=CallMode.ADVANCED, device_id="a1")["callID"]
    actions.call_accept(user=bob, call_id=call_id, device_id="b1")
    with django_capture_on_commit_callbacks(execute=True):
        presence.connection_close(channel_name=channel)
    since = DeviceAway.objects.get(user=bob, device_id="b1").since
    [at] = [
        int(job_id.rsplit("-", 1)[1])
        for job_id in queue.scheduled_job_registry.get_job_ids()
        if f"member-away-{bob.pk}-" in job_id
    ]
    assert abs(at - (ms(since) + settings.CALL_HEARTBEAT_TIMEOUT_SECONDS * 1000)) <= 1
    before = snapshot()
    assert jobs.check_members_away(bob.pk, at) == 0  # early
    assert snapshot() == before
    DeviceAway.objects.filter(user=bob).update(since=timezone.now() - timedelta(minutes=5))
    assert jobs.check_members_away(bob.pk, at) == 1
    assert (bob_member(call_id, bob).state, bob_member(call_id, bob).reason) == (S.QUIT, "offline")
    assert jobs.check_members_away(bob.pk, at) == 0


def test_sweep_catches_lost_jobs(alice, bob, carol, dave):
    late = actions.call_invite(user=alice, invitees=["bob"])["callID"]
    unseen = actions.call_invite(user=carol, invitees=["dave"], enable_not_received_check=True)["callID"]
    CallUser.objects.filter(call__call_id=late, user=bob).update(deadline=timezone.now() - timedelta(seconds=1))
    CallUser.objects.filter(call__call_id=unseen, user=dave).update(invited_at=timezone.now() - timedelta(seconds=60))
    assert jobs.sweep() == {
        "reaped_servers": 0,
        "expired": 1,
        "not_received": 1,
        "caller_offline": 0,
        "members_away": 0,
        "push_queued": 0,
        "webhooks_queued": 0,
        "media_rooms_destroyed": 0,
        "media_servers_changed": 0,
        "media_tasks_queued": 0,
    }
    assert bob_member(late, bob).state == S.TIMEOUT
    assert CallUser.objects.get(user=dave).state == S.NOT_YET_RECEIVED
    before = snapshot()
    assert jobs.sweep() == {
        "reaped_servers": 0,
        "expired": 0,
        "not_received": 0,
        "caller_offline": 0,
        "members_away": 0,
        "push_queued": 0,
        "webhooks_queued": 0,
        "media_rooms_destroyed": 0,
        "media_servers_changed": 0,
        "media_tasks_queued": 0,
    }
    assert snapshot() == before


def test_sweep_reaps_a_dead_web_process_then_cancels(alice, bob):
    online(alice)
    call_id = actions.call_invite(user=alice, invitees=["bob"])["callID"]
    # the web process was killed: no close, no heartbeat
    ServerProcess.objects.update(last_seen=timezone.now() - timedelta(minutes=10))
    assert jobs.sweep() == {
        "reaped_servers": 1,
        "expired": 0,
        "not_received": 0,
        "caller_offline": 1,
        "members_away": 0,
        "push_queued": 0,
        "webhooks_queued": 0,
        "media_rooms_destroyed": 0,
        "media_servers_changed": 0,
        "media_tasks_queued": 0,
    }
    assert not Connection.objects.exists()
    # the offline clock runs from the last heartbeat, 10 minutes ago: cancelled at once
    assert UserPresence.objects.get(user=alice).last_offline_at < timezone.now() - timedelta(minutes=9)
    m = bob_member(call_id, bob)
    assert (m.state, m.reason) == (S.CANCELLED, "caller_offline")


# --- scheduling in RQ ----------------------------------------------------------------------------


def scheduled(queue) -> dict[str, int]:
    """Scheduled job -> its time in whole seconds, by job id without this site's REDIS_PREFIX."""
    registry = queue.scheduled_job_registry
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", settings.REDIS_PREFIX + ":")
    out = {}
    for job_id in registry.get_job_ids():
        assert job_id.startswith(prefix), job_id  # RQ's job keys are global: ids carry the prefix
        out[job_id.removeprefix(prefix)] = int(registry.get_scheduled_time(job_id).timestamp())
    return out


class Announcements:
    """What scheduling.announce_deadline published to the deadline waiters (real Redis pub/sub)."""

    def __init__(self, queue) -> None:
        self.pubsub = queue.connection.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(scheduling.deadline_channel())
        self.pubsub.get_message(timeout=1)  # the subscription is confirmed before anything is sent

    def take(self, wait: float = 0.3) -> list[int]:
        out = []
        end = time.monotonic() + wait
        while time.monotonic() < end:
            message = self.pubsub.get_message(timeout=0.05)
            if message and message["type"] == "message":
                out.append(int(message["data"]))
        return out

    def close(self) -> None:
        self.pubsub.close()


@pytest.fixture
def announcements(queue):
    scheduling._announcer.reset()
    listener = Announcements(queue)
    yield listener
    listener.close()
    scheduling._announcer.reset()


@pytest.mark.django_db(transaction=True)
def test_jobs_scheduled_after_commit(queue, announcements, alice, bob, carol):
    online(carol)
    channel = online(alice)
    call_id = actions.call_invite(user=alice, invitees=["bob", "carol"], enable_not_received_check=True)["callID"]
    b, c = bob_member(call_id, bob), CallUser.objects.get(user=carol)
    check_at = b.invited_at + timedelta(seconds=settings.CALL_NOT_RECEIVED_CHECK_SECONDS)
    # timeouts are no job: the deadline waiters are told, once (both invitees share the deadline)
    assert scheduled(queue) == {f"not-received-{b.pk}-{ms(check_at)}": int(check_at.timestamp())}
    assert b.deadline == c.deadline
    assert announcements.take() == [ms(b.deadline)]
    job = Job.fetch(queue.scheduled_job_registry.get_job_ids()[0], connection=queue.connection)
    assert job.func_name == "invitations.worker.jobs.check_not_received" and job.args == (ms(check_at),)
    presence.connection_close(channel_name=channel)
    offline_at = UserPresence.objects.get(user=alice).last_offline_at
    at = offline_at + timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS)
    assert scheduled(queue)[f"caller-offline-{alice.pk}-{ms(at)}"] == int(at.timestamp())


@pytest.mark.django_db(transaction=True)
def test_later_deadlines_are_not_announced_while_an_earlier_one_is_ahead(
    queue, announcements, make_user, alice, bob, carol, dave
):
    first = actions.call_invite(user=alice, invitees=["bob"], timeout=30)["callID"]
    actions.call_invite(user=carol, invitees=["dave"], timeout=40)  # the waiters wake at the first and re-read
    assert announcements.take() == [ms(bob_member(first, bob).deadline)]
    nearer = actions.call_invite(user=dave, invitees=["alice"], timeout=10)["callID"]
    assert announcements.take() == [ms(CallUser.objects.get(call__call_id=nearer, user=alice).deadline)]
    actions.call_invite(user=bob, invitees=["carol"], timeout=0)  # no deadline: nothing to tell
    assert announcements.take() == []
    # once the announced deadline has passed (or is within the clock margin), the next one is told again
    scheduling._announcer.needed(time.time() + scheduling.ANNOUNCE_MARGIN_SECONDS / 2, time.time())
    again = actions.call_invite(user=make_user("erin"), invitees=["dave"], timeout=50)["callID"]
    assert announcements.take() == [ms(CallUser.objects.get(call__call_id=again, user=dave).deadline)]


@pytest.mark.django_db(transaction=True)
def test_nothing_scheduled_on_rollback_or_refusal(queue, announcements, alice, bob):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            actions.call_invite(user=alice, invitees=["bob"], enable_not_received_check=True)
            assert scheduled(queue) == {}  # not before commit
            assert announcements.take(0.1) == []
            raise RuntimeError("roll back")
    assert scheduled(queue) == {} and not Call.objects.exists()
    with pytest.raises(CallError):
        actions.call_invite(user=alice, invitees=["ghost"])
    assert scheduled(queue) == {}
    assert announcements.take() == []
    # nothing was recorded as told: the next invite is announced
    actions.call_invite(user=alice, invitees=["bob"], timeout=30)
    assert len(announcements.take()) == 1


@pytest.mark.django_db(transaction=True)
def test_call_worker_runs_scheduled_jobs(queue, settings, alice, bob):
    settings.CALL_NOT_RECEIVED_CHECK_SECONDS = 1
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=60, enable_not_received_check=True)["callID"]
    invited_at = bob_member(call_id, bob).invited_at
    [job_id] = queue.scheduled_job_registry.get_job_ids()
    time.sleep(max(0.0, invited_at.timestamp() + 1 - time.time()) + 0.1)
    # a worker killed -9 by an earlier test (test_faults) leaves its scheduler lock on this queue
    queue.connection.delete(RQScheduler.get_locking_key(queue.name))
    scheduler = RQScheduler([queue], connection=queue.connection)
    assert queue.name in scheduler.acquire_locks()
    try:
        scheduler.enqueue_scheduled_jobs()  # what the worker's scheduler does once a second
    finally:
        scheduler.release_locks()
    assert queue.job_ids == [job_id]
    worker = CallWorker([queue], connection=queue.connection)
    assert worker.work(burst=True, with_scheduler=False) is True
    assert bob_member(call_id, bob).state == S.NOT_YET_RECEIVED
    assert queue.failed_job_registry.count == 0 and queue.count == 0


@pytest.mark.django_db(transaction=True)
def test_call_worker_job_started_early_acts_at_its_time(queue, settings, alice, bob):
    settings.CALL_NOT_RECEIVED_CHECK_SECONDS = 2
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=60, enable_not_received_check=True)["callID"]
    at = ms(bob_member(call_id, bob).invited_at) + 2000
    job = queue.enqueue("invitations.worker.jobs.check_not_received", at)  # as if RQ ran it ~2 s early
    worker = CallWorker([queue], connection=queue.connection)
    assert worker.work(burst=True, with_scheduler=False) is True
    assert now_ms() >= at
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == 1  # the job, not the sweep, marked it
    assert bob_member(call_id, bob).state == S.NOT_YET_RECEIVED


def test_call_worker_quits_at_once_when_its_command_listener_reads_first(queue):
    """Quitting, RQ sends UNSUBSCRIBE and then stops its command listener (a pub/sub
    thread); a listener that handles the reply first (a loaded machine) must not hold
    the worker for a whole read: RQ's is 60 s, and meanwhile the worker's deadline
    waiter went on expiring invitations (a 60 s ring timed out in a burst run)."""
    worker = CallWorker([queue], connection=queue.connection)
    worker.subscribe()
    send_unsubscribe = worker.pubsub.unsubscribe

    def unsubscribe_and_lose_the_race(*args, **kwargs):
        sent = send_unsubscribe(*args, **kwargs)
        handled = time.monotonic() + 5
        while worker.pubsub.subscribed and time.monotonic() < handled:  # the listener handles the reply
            time.sleep(0.01)
        time.sleep(0.1)  # and reads again, before the stop
        return sent

    worker.pubsub.unsubscribe = unsubscribe_and_lose_the_race
    quitting = threading.Thread(target=worker.unsubscribe, daemon=True)
    quitting.start()
    quitting.join(10)
    assert not worker.pubsub.subscribed
    assert not quitting.is_alive()


@pytest.mark.django_db(transaction=True)
def test_call_worker_expires_at_the_deadline_without_a_job(queue, settings, alice, bob):
    """The worker's deadline waiter, not RQ, times the invitation out: at its deadline, never before."""
    settings.CALL_SWEEP_INTERVAL_SECONDS = 60  # the sweep runs at the start only: it is not what expires it
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=1)["callID"]
    deadline = bob_member(call_id, bob).deadline
    assert scheduled(queue) == {} and queue.count == 0
    worker = CallWorker([queue], connection=queue.connection)
    # not burst: it runs until idle this long (no job comes), well past the deadline
    worker.work(with_scheduler=False, max_idle_time=3)
    m = bob_member(call_id, bob)
    assert (m.state, m.reason) == (S.TIMEOUT, "timeout")
    assert CallEvent.objects.get(call__call_id=call_id, to_state=S.TIMEOUT).created_at >= deadline


@pytest.mark.django_db(transaction=True)
def test_call_worker_prunes_what_retention_no_longer_keeps(queue, settings, alice):
    """Its retention thread prunes on start (services/retention.py; tests/worker/test_retention.py has the rules)."""
    from invitations.models import ApiToken

    settings.CALL_RETAIN_DEAD_TOKENS_DAYS = 30
    for _ in range(2):
        token_actions.api_token_create(user=alice)
    dead, live = ApiToken.objects.order_by("pk")
    ApiToken.objects.filter(pk=dead.pk).update(revoked=True, created_at=timezone.now() - timedelta(days=31))
    worker = CallWorker([queue], connection=queue.connection)
    worker.work(with_scheduler=False, max_idle_time=1)
    assert list(ApiToken.objects.all()) == [live]
