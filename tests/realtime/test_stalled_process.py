"""A live Daphne whose heartbeat stalls past the stale limit.

A real Daphne is stopped (SIGSTOP: its sockets stay open, nothing runs) until
the worker's sweep reaps its ServerProcess row and connections, then resumed.
Its next heartbeat finds the row gone and registers again every socket it
still holds: presence is right again, and the caller's ringing call is not
cancelled as caller_offline once the heartbeat timeout has passed.
"""

import asyncio
import os
import signal
import time

import pytest

from invitations.calls.states import CallState
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallUser, Connection, ServerProcess
from tests.processes import start_daphne, start_worker
from tests.test_faults import _connect, _db, _wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SWEEP = 1.0
STALE = 2.0
CALLER_OFFLINE = 6.0  # CALL_HEARTBEAT_TIMEOUT_SECONDS: longer than the stall
TIMINGS = {
    "CALL_SWEEP_INTERVAL_SECONDS": SWEEP,
    "CALL_SERVER_HEARTBEAT_SECONDS": 0.5,
    "CALL_SERVER_STALE_SECONDS": STALE,
    "CALL_HEARTBEAT_TIMEOUT_SECONDS": CALLER_OFFLINE,
}


async def test_stalled_daphne_recovers_its_sockets(make_user, process_logs):
    alice, bob, dave = [await _db(make_user, n) for n in ("alice", "bob", "dave")]
    worker = await asyncio.to_thread(start_worker, process_logs, **TIMINGS)
    daphne, base = await asyncio.to_thread(start_daphne, process_logs, "daphne-stalled", **TIMINGS)
    clients = []
    try:
        a = await _connect(base, "alice", "a1")
        b = await _connect(base, "bob", "b1")
        clients += [a, b]
        result = await a.cmd("callInvite", invitees=["dave"], timeout=120)
        assert result["ok"], result
        call_id = result["data"]["callID"]
        server_id = await _db(lambda: Connection.objects.get(user=alice).server_id)

        os.kill(daphne.popen.pid, signal.SIGSTOP)  # a stall: sockets open, no heartbeat
        stopped = time.monotonic()
        try:
            reaped = await _db(_wait_for, lambda: not ServerProcess.objects.filter(server_id=server_id).exists(), 60)
            assert reaped, "the stalled process was not reaped"
            assert await _db(lambda: Connection.objects.count()) == 0
        finally:
            os.kill(daphne.popen.pid, signal.SIGCONT)
        stalled = time.monotonic() - stopped

        def restored() -> bool:
            return sorted(Connection.objects.filter(server_id=server_id).values_list("device_id", flat=True)) == [
                "a1",
                "b1",
            ]

        assert await _db(_wait_for, restored, 60), "the resumed process did not register its sockets again"
        recovered = time.monotonic() - stopped
        # Past the caller-offline timeout (counted from the reaping) plus sweeps: still ringing.
        await asyncio.sleep(CALLER_OFFLINE + 3 * SWEEP)
        member = await _db(lambda: CallUser.objects.get(call__call_id=call_id, user=dave))
        assert member.state == S.INVITING and member.reason == "", (member.state, member.reason)
        assert await _db(lambda: Call.objects.get(call_id=call_id).state) == CallState.STARTED
        # the sockets work, and the server sees both users online
        info = await a.cmd("queryCall", callID=call_id)
        assert info["ok"], info
        users = await b.cmd("queryUsers", search="alice")
        assert users["ok"] and users["data"]["users"][0]["online"] is True, users
        print(
            f"\nstalled Daphne: reaped after {stalled:.1f} s stopped, sockets registered again "
            f"{recovered - stalled:.1f} s after resuming; call still ringing after {CALLER_OFFLINE:.0f} s"
        )
    finally:
        for c in clients:
            try:
                await asyncio.wait_for(c.close(), 5)
            except Exception:
                pass
        await asyncio.to_thread(daphne.stop)
        await asyncio.to_thread(worker.stop)
