"""queryMediaSession over HTTP (GET /api/calls/{callID}/media) and over the WebSocket,
and callMediaChanged reaching the members' sockets (real Janus, channel layer, PostgreSQL)."""

import pytest
from channels.db import database_sync_to_async

from invitations.calls import actions, payloads
from invitations.calls.states import CallMode
from tests.calls.helpers import invite
from tests.media.helpers import Page
from tests.realtime.test_consumer import close_sync_thread_connections, connect, tokens  # noqa: F401
from tests.web.test_api import Api, assert_error

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_passwords")]


def test_http_endpoint(sfu, alice, bob, carol, dave, client):
    # placed and accepted over HTTP: no call device, as a script would
    call_id = invite(alice, bob, carol, dave, mode=CallMode.ADVANCED)
    for user in (bob, carol):
        actions.call_accept(user=user, call_id=call_id)
    answer = Api(bob).get(f"/api/calls/{call_id}/media")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["callID"] == call_id and body["topology"] == "sfu"
    assert set(body["sfu"]) == {"url", "room", "token", "iceServers", "expiresAt"}
    Page(body["sfu"], "bob").close()  # the token joins

    assert_error(Api(dave).get(f"/api/calls/{call_id}/media"), 409, "invalid_state")  # pending
    assert_error(Api(bob).get("/api/calls/nope/media"), 404, "call_not_found", 6000276)
    assert_error(Api(bob).get("/api/calls/a%00b/media"), 404, "call_not_found", 6000276)
    assert_error(client.get(f"/api/calls/{call_id}/media"), 401, "unauthenticated")
    actions.call_end(user=alice, call_id=call_id)
    assert_error(Api(bob).get(f"/api/calls/{call_id}/media"), 409, "call_ended", 6000276)


def test_http_endpoint_without_a_media_server(alice, bob):
    call_id = invite(alice, bob, mode=CallMode.ADVANCED)
    actions.call_accept(user=bob, call_id=call_id)
    answer = Api(bob).get(f"/api/calls/{call_id}/media")
    assert answer.status_code == 200 and answer.json() == {"callID": call_id, "topology": "p2p"}


async def test_websocket_command_and_the_event(sfu, tokens, alice, bob, carol):  # noqa: F811
    a1, _ = await connect(tokens["alice"], "a1")
    b1, _ = await connect(tokens["bob"], "b1")
    c1, _ = await connect(tokens["carol"], "c1")

    async def run(comm, cmd: str, cmd_id: int, **data) -> dict:
        """The command's result; the events before it are dropped."""
        await comm.send_json_to({"type": "cmd", "id": cmd_id, "cmd": cmd, "data": data})
        while (frame := await comm.receive_json_from(timeout=10))["type"] != "result":
            pass
        assert frame["id"] == cmd_id, frame
        return frame

    async def media_changed(comm) -> dict:
        while (frame := await comm.receive_json_from(timeout=10)).get("event") != "callMediaChanged":
            pass
        payloads.check_event_frame(frame)
        return frame

    call_id = (await run(a1, "callInvite", 1, invitees=["bob", "carol"], mode=CallMode.ADVANCED))["data"]["callID"]
    assert (await run(b1, "callAccept", 2, callID=call_id))["ok"]
    p2p = await run(b1, "queryMediaSession", 3, callID=call_id)
    assert p2p == {"type": "result", "id": 3, "ok": True, "data": {"callID": call_id, "topology": "p2p"}}

    assert (await run(c1, "callAccept", 4, callID=call_id))["ok"]
    for comm in (a1, b1, c1):
        frame = await media_changed(comm)
        assert (frame["seq"], frame["data"]) == (0, {"callID": call_id, "topology": "sfu"})
    result = await run(c1, "queryMediaSession", 5, callID=call_id)
    assert result["ok"] and result["data"]["topology"] == "sfu", result
    await database_sync_to_async(lambda: Page(result["data"]["sfu"], "carol").close())()

    assert (await run(c1, "queryMediaSession", 6, callID=call_id, extra=1))["error"]["reason"] == "invalid_argument"
    assert (await run(b1, "queryMediaSession", 7))["error"]["reason"] == "invalid_argument"
    b2, _ = await connect(tokens["bob"], "b2")  # not bob's call device
    assert (await run(b2, "queryMediaSession", 8, callID=call_id))["error"]["reason"] == "invalid_state"
    for comm in (a1, b1, b2, c1):
        await comm.disconnect()
