"""Scale-out: two Daphne processes and one rqworker share PostgreSQL and Redis.

- events cross processes (caller on one Daphne, callee on the other);
- a timeout still fires when the worker is killed (-9) during the wait and a
  new one starts: its sweep thread catches the deadline, not RQ's scheduler
  (whose lock the dead worker still holds);
- presence of a user connected to both processes stays right when one
  process is killed, and turns offline once both are gone.

Heartbeat, stale and sweep periods are made small per process through the
environment, so the whole module runs in well under 90 s.
"""

import asyncio
import time

import pytest
import requests
from django.db import connection

from invitations.calls import selectors
from invitations.models import CallEvent, CallUser, Connection, ServerProcess
from tests.conftest import PASSWORD
from tests.processes import start_daphne, start_worker
from tests.wsclient import Client, api_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SWEEP = 1.0  # CALL_SWEEP_INTERVAL_SECONDS of the worker
HEARTBEAT = 0.5  # CALL_SERVER_HEARTBEAT_SECONDS of each Daphne
STALE = 3.0  # CALL_SERVER_STALE_SECONDS (read by the worker's sweep, which reaps)
# Lateness beyond one sweep that still means "fired by the sweep" on a loaded 2-core CI.
LATE_MARGIN = 20.0
TIMINGS = {
    "CALL_SWEEP_INTERVAL_SECONDS": SWEEP,
    "CALL_SERVER_HEARTBEAT_SECONDS": HEARTBEAT,
    "CALL_SERVER_STALE_SECONDS": STALE,
}


@pytest.fixture
def cluster(transactional_db, process_logs):
    """Two Daphne processes and one worker; yields a dict the test may change."""
    procs = {"worker": start_worker(process_logs, **TIMINGS)}
    procs["web1"], base1 = start_daphne(process_logs, name="daphne1", **TIMINGS)
    procs["web2"], base2 = start_daphne(process_logs, name="daphne2", **TIMINGS)
    procs["base1"], procs["base2"], procs["logs"] = base1, base2, process_logs
    yield procs
    for key in ("web1", "web2", "worker", "worker2"):
        if key in procs:
            procs[key].stop()


async def _connect(base: str, username: str, device: str, **kwargs) -> Client:
    token = await asyncio.to_thread(api_token, base, username, PASSWORD)
    return await Client.connect(base, token, device_id=device, **kwargs)


def _db(func, *args, **kwargs):
    """Run an ORM read from async code on a fresh connection (sees others' commits)."""

    def run():
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    return asyncio.to_thread(run)


async def _until(predicate, timeout: float, what: str) -> float:
    """Poll an ORM predicate; returns the time it became true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await _db(predicate):
            return time.time()
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


async def test_events_cross_processes(cluster, alice, bob):
    a = await _connect(cluster["base1"], "alice", "alice-1")
    b = await _connect(cluster["base2"], "bob", "bob-1")
    # Each socket is held by a different process (registered just after "hello").
    await _until(
        lambda: Connection.objects.values("server_id").distinct().count() == 2, 60, "two connections on two processes"
    )

    result = await a.cmd("callInvite", invitees=["bob"])
    assert result["ok"], result
    call_id = result["data"]["callID"]
    received = await b.event("callInvitationReceived", callID=call_id)
    assert received["data"]["caller"] == "alice"
    answer = await b.cmd("callAccept", callID=call_id)
    assert answer["ok"], answer
    # bob's Accepted (1) reaches alice on the other process.
    changed = await a.event(
        "callUserStateChanged", callID=call_id, callUserList=[{"userID": "bob", "state": 1, "extendedData": ""}]
    )
    assert changed["seq"] > received["seq"]

    # And back the other way, over HTTP on process 2 to a caller on process 1.
    token_b = await asyncio.to_thread(api_token, cluster["base2"], "bob", PASSWORD)
    response = await asyncio.to_thread(
        requests.post,
        f"{cluster['base2']}/api/calls",
        json={"invitees": ["alice"]},
        headers={"Authorization": f"Bearer {token_b}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    await a.event("callInvitationReceived", callID=response.json()["callID"])
    await a.close()
    await b.close()


async def test_timeout_fires_across_worker_restart(cluster, alice, bob):
    a = await _connect(cluster["base1"], "alice", "alice-1")
    b = await _connect(cluster["base2"], "bob", "bob-1")
    # Over HTTP: Client.cmd's own `timeout` argument would swallow callInvite's.
    token_a = await asyncio.to_thread(api_token, cluster["base1"], "alice", PASSWORD)
    response = await asyncio.to_thread(
        requests.post,
        f"{cluster['base1']}/api/calls",
        json={"invitees": ["bob"], "timeout": 4},
        headers={"Authorization": f"Bearer {token_a}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    call_id = response.json()["callID"]
    received = await b.event("callInvitationReceived", callID=call_id)
    deadline = received["data"]["deadline"] / 1000

    # The worker holding the scheduled expiry job (and RQ's scheduler lock) dies.
    await asyncio.sleep(0.5)
    cluster["worker"].kill()
    cluster["worker2"] = await asyncio.to_thread(start_worker, cluster["logs"], name="rqworker2", **TIMINGS)
    # On a loaded machine the new worker may only be up after the deadline: then
    # its first sweep fires the timeout, and lateness counts from its start.
    worker2_up = time.time()

    try:
        timeout_event = await b.event("callInvitationTimeout", callID=call_id, timeout=60)
    except TimeoutError:
        rows = await _db(lambda: list(CallUser.objects.filter(call__call_id=call_id).values()))
        raise AssertionError(f"no timeout event; members {rows}; worker:\n{cluster['worker2'].output()}")
    fired = time.time()
    late = fired - max(deadline, worker2_up)
    print(
        f"\nworker restart: new worker up {worker2_up - deadline:+.2f} s from the deadline, "
        f"timeout {late:.2f} s after it could first fire"
    )
    assert fired >= deadline, "fired early"
    assert late < SWEEP + LATE_MARGIN, late
    assert timeout_event["data"] == {"callID": call_id, "mode": 0}
    await a.event(
        "callUserStateChanged",
        callID=call_id,
        callUserList=[{"userID": "bob", "state": 6, "extendedData": "", "reason": "timeout"}],
    )
    # Exactly one timeout in the log, however many triggers (job, sweeps) ran.
    timeouts = await _db(lambda: CallEvent.objects.filter(call__call_id=call_id, to_state=6).count())
    assert timeouts == 1
    assert await _db(lambda: CallUser.objects.get(call__call_id=call_id, user__username="bob").state) == 6
    await a.close()
    await b.close()


def _online(user, viewer) -> bool:
    rows = selectors.users_with_presence(user=viewer, search=user.username)
    return next(r["online"] for r in rows if r["userID"] == user.username)


async def test_presence_survives_one_process_dying(cluster, alice, bob):
    c1 = await _connect(cluster["base1"], "alice", "alice-web1")
    c2 = await _connect(cluster["base2"], "alice", "alice-web2")
    token_bob = await asyncio.to_thread(api_token, cluster["base1"], "bob", PASSWORD)
    url = cluster["base1"].replace("http", "ws", 1) + "/ws/calls/?presence=1&deviceID=bob-watch"
    watcher = Client(*await _raw_connect(url, token_bob))  # subscribed to presence changes
    await _until(
        lambda: Connection.objects.filter(user=alice).values("server_id").distinct().count() == 2,
        60,
        "alice connected through both processes",
    )
    assert await _db(_online, alice, bob)
    web2_server = await _db(lambda: Connection.objects.get(device_id="alice-web2").server_id)

    cluster["web2"].kill()
    killed_at = time.time()
    reaped_at = await _until(
        lambda: not ServerProcess.objects.filter(server_id=web2_server).exists(),
        STALE + SWEEP + 60,
        "the killed process's connections reaped",
    )
    assert reaped_at - killed_at >= STALE - HEARTBEAT - 0.5  # reaped by staleness, not by anything else
    # Still online through process 1: by the database, by the HTTP API, and no offline event went out.
    assert await _db(_online, alice, bob)
    assert await _db(lambda: list(Connection.objects.filter(user=alice).values_list("device_id", flat=True))) == [
        "alice-web1"
    ]
    response = await asyncio.to_thread(
        requests.get,
        f"{cluster['base1']}/api/users",
        params={"search": "alice"},
        headers={"Authorization": f"Bearer {token_bob}"},
        timeout=10,
    )
    assert response.json()["users"] == [{"userID": "alice", "name": "alice", "online": True}], response.text
    with pytest.raises(asyncio.TimeoutError):
        await watcher.event("userPresenceChanged", timeout=1.0, userID="alice")

    # Process 1 dies too: alice is offline once its connections are reaped.
    await watcher.close()
    cluster["web1"].kill()
    await _until(lambda: not ServerProcess.objects.exists(), STALE + SWEEP + 60, "both processes reaped")
    assert not await _db(_online, alice, bob)
    assert await _db(lambda: Connection.objects.count()) == 0
    for client in (c1, c2):
        try:
            await asyncio.wait_for(client.close(), 2)
        except Exception:  # the server end is gone
            pass


async def _raw_connect(url: str, token: str):
    import json

    import websockets

    ws = await websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"})
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello", hello
    return ws, hello
