"""End to end against real daphne and rqworker processes: two WebSocket
clients through invite -> receive -> accept, and invite -> timeout."""

import asyncio
import time

import pytest
import requests

from tests.conftest import PASSWORD
from tests.wsclient import Client, api_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def _clients(base, *names):
    tokens = [await asyncio.to_thread(api_token, base, n, PASSWORD) for n in names]
    return [await Client.connect(base, t, device_id=f"{n}-1") for n, t in zip(names, tokens)]


# A timeout later than this is a lost timeout (the sweep runs every 2 s), not a slow machine.
LATE_LIMIT = 30.0


async def test_invite_receive_accept(live_site, alice, bob):
    a, b = await _clients(live_site, "alice", "bob")
    result = await a.cmd("callInvite", invitees=["bob"], extendedData='{"type":"video"}')
    assert result["ok"], result
    call_id = result["data"]["callID"]
    created = await a.event("callInvitationCreated", callID=call_id)
    received = await b.event("callInvitationReceived", callID=call_id)
    assert received["data"]["caller"] == "alice" and received["data"]["extendedData"] == '{"type":"video"}'
    assert created["seq"] == received["seq"] == 1
    answer = await b.cmd("callAccept", callID=call_id)
    assert answer == {"type": "result", "id": answer["id"], "ok": True, "data": {"callID": call_id}}
    changed = await a.event(
        "callUserStateChanged", callID=call_id, callUserList=[{"userID": "bob", "state": 1, "extendedData": ""}]
    )
    assert changed["seq"] == 2
    ended = await a.event("callInvitationEnded", callID=call_id)
    assert ended["data"]["operatedUserID"] == "bob"
    await a.close()
    await b.close()


async def test_invite_timeout(live_site, alice, bob):
    a, b = await _clients(live_site, "alice", "bob")
    token = await asyncio.to_thread(api_token, live_site, "alice", PASSWORD)
    response = await asyncio.to_thread(
        requests.post,
        f"{live_site}/api/calls",
        json={"invitees": ["bob"], "timeout": 2},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    call_id = response.json()["callID"]
    received = await b.event("callInvitationReceived", callID=call_id)
    deadline_s = received["data"]["deadline"] / 1000
    # Wait on the event with a generous limit (a loaded 2-core CI is slow), then
    # check the figure: never early, and late by less than a lost timeout would be.
    timeout_event = await b.event("callInvitationTimeout", callID=call_id, timeout=60)
    late = time.time() - deadline_s
    print(f"\ne2e timeout: fired {late:.2f} s after the deadline")
    assert late >= 0, f"fired {-late:.2f} s early"
    assert late < LATE_LIMIT, late
    assert timeout_event["data"] == {"callID": call_id, "mode": 0}
    changed = await a.event(
        "callUserStateChanged",
        callID=call_id,
        callUserList=[{"userID": "bob", "state": 6, "extendedData": "", "reason": "timeout"}],
    )
    assert changed["seq"] == timeout_event["seq"]
    await a.close()
    await b.close()
