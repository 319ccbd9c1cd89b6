"""The WebSocket endpoint through the real ASGI stack (token or session +
Origin auth, URL routing) and the real Redis channel layer."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from callsite.asgi import application
from invitations.accounts import token_actions
from invitations.calls import actions
from invitations.models import Call, CallUser, Connection
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_passwords")]

ORIGIN = b"http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
async def close_sync_thread_connections():
    # the consumer's database work runs in asgiref's sync thread; close its connection
    # so the test database can be dropped at the end of the run
    yield
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def tokens(alice, bob, carol, dave):
    return {u.username: token_actions.api_token_create(user=u) for u in (alice, bob, carol, dave)}


def ws(token: str | None = None, device: str = "", headers=(), query: str = "") -> WebsocketCommunicator:
    path = "/ws/calls/"
    params = "&".join(p for p in (f"deviceID={device}" if device else "", query) if p)
    if params:
        path += "?" + params
    hdrs = list(headers)
    if token:
        hdrs.append((b"authorization", f"Bearer {token}".encode()))
    return WebsocketCommunicator(application, path, headers=hdrs)


async def connect(token: str, device: str = "", **kw) -> tuple[WebsocketCommunicator, dict]:
    comm = ws(token, device, **kw)
    connected, _ = await comm.connect(timeout=10)
    assert connected
    hello = await comm.receive_json_from(timeout=10)
    assert hello["type"] == "hello", hello
    # the pong proves connect() is done; frames the hub delivered during it come before the pong
    await comm.send_json_to({"type": "ping"})
    comm.on_connect = []
    while (frame := await comm.receive_json_from(timeout=10)) != {"type": "pong"}:
        comm.on_connect.append(frame)
    return comm, hello


async def frames(comm: WebsocketCommunicator, count: int) -> list[dict]:
    """Exactly `count` more frames, and then nothing."""
    out = [await comm.receive_json_from(timeout=10) for _ in range(count)]
    if not await comm.receive_nothing(0.3):
        raise AssertionError(f"more frames than expected after {out}: {await comm.receive_json_from()}")
    return out


async def command(comm: WebsocketCommunicator, cmd: str, cmd_id=1, **data) -> dict:
    await comm.send_json_to({"type": "cmd", "id": cmd_id, "cmd": cmd, "data": data})
    return await comm.receive_json_from(timeout=10)


def events(fs: list[dict]) -> list[tuple[str, int]]:
    return [(f["event"], f["seq"]) for f in fs if f["type"] == "event"]


def results(fs: list[dict]) -> list[dict]:
    return [f for f in fs if f["type"] == "result"]


async def closed_with(comm: WebsocketCommunicator, code: int) -> None:
    out = await comm.receive_output(timeout=10)
    assert out == {"type": "websocket.close", "code": code}, out


# --- connect -------------------------------------------------------------------------------------


async def test_hello_then_pending_invitations(tokens, alice, bob, carol):
    a, hello = await connect(tokens["alice"], "a1")
    assert set(hello) == {"type", "userID", "deviceID", "serverTime"}
    assert (hello["userID"], hello["deviceID"]) == ("alice", "a1") and hello["serverTime"] > 0
    result = await database_sync_to_async(actions.call_invite)(user=bob, invitees=["carol", "alice"], extended_data="x")
    call_id = result["callID"]
    got = await frames(a, 2)  # alice was online: Received at once
    assert events(got) == [("callInvitationReceived", 1), ("callUserStateChanged", 1)]
    assert got[0]["data"]["callID"] == call_id and got[0]["data"]["caller"] == "bob"
    # carol comes online later: hello, then the waiting invitation; members see her Received
    c, hello = await connect(tokens["carol"])
    assert hello["deviceID"]  # made by the server
    # her own change to Received is an event too (it may overtake the pending delivery)
    got = c.on_connect + await frames(c, 2 - len(c.on_connect))
    assert sorted(events(got)) == [("callInvitationReceived", 2), ("callUserStateChanged", 2)]
    data = next(f for f in got if f["event"] == "callInvitationReceived")["data"]
    assert (data["callID"], data["caller"], data["inviter"], data["mode"], data["timeout"], data["extendedData"]) == (
        call_id,
        "bob",
        "bob",
        0,
        90,
        "x",
    )
    assert {"createTime", "callUserList"} <= set(data)
    changed = await frames(a, 1)
    assert changed[0]["event"] == "callUserStateChanged" and changed[0]["seq"] == 2
    assert changed[0]["data"]["callUserList"] == [{"userID": "carol", "state": 5, "extendedData": ""}]
    assert await database_sync_to_async(lambda: CallUser.objects.get(user=carol).state)() == 5
    assert await database_sync_to_async(Connection.objects.count)() == 2
    await c.disconnect()
    await a.disconnect()
    assert await database_sync_to_async(Connection.objects.count)() == 0


async def test_no_delivery_of_ended_or_answered_calls(tokens, alice, bob, carol):
    first = await database_sync_to_async(actions.call_invite)(user=alice, invitees=["bob"])
    await database_sync_to_async(actions.call_cancel)(user=alice, call_id=first["callID"])
    second = await database_sync_to_async(actions.call_invite)(user=carol, invitees=["bob"])
    b, _ = await connect(tokens["bob"])
    got = b.on_connect + await frames(b, 2 - len(b.on_connect))
    assert sorted(events(got)) == [("callInvitationReceived", 2), ("callUserStateChanged", 2)]
    assert {f["data"]["callID"] for f in got} == {second["callID"]}
    await b.disconnect()


@pytest.mark.parametrize("case", ["anonymous", "bad_token", "cookie_without_origin", "cookie_bad_origin"])
async def test_unauthenticated_closed_4401(alice, case):
    session = await database_sync_to_async(_session_cookie)("alice")
    headers = {
        "anonymous": [],
        "bad_token": [(b"authorization", b"Bearer nope")],
        "cookie_without_origin": [(b"cookie", session)],
        "cookie_bad_origin": [(b"cookie", session), (b"origin", b"http://evil.example")],
    }[case]
    comm = ws(headers=headers)
    await comm.connect(timeout=10)
    await closed_with(comm, 4401)
    await comm.disconnect()
    assert await database_sync_to_async(Connection.objects.count)() == 0


def _session_cookie(username: str) -> bytes:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_session_cookie_with_allowed_origin(alice):
    session = await database_sync_to_async(_session_cookie)("alice")
    comm, hello = await connect(
        None, "web", headers=[(b"cookie", session), (b"origin", ORIGIN), (b"host", b"127.0.0.1:8000")]
    )
    assert hello["userID"] == "alice"
    assert (await command(comm, "queryCallInvitationList"))["ok"] is True
    await comm.disconnect()


async def test_device_id_too_long(tokens):
    comm = ws(tokens["alice"], "d" * 129)
    await comm.connect(timeout=10)
    await closed_with(comm, 4400)
    await comm.disconnect()


# --- frames --------------------------------------------------------------------------------------


async def test_ping_and_malformed_frames(tokens):
    a, _ = await connect(tokens["alice"])
    await a.send_json_to({"type": "ping"})
    assert await a.receive_json_from(timeout=10) == {"type": "pong"}

    async def error_for(text: str | None = None, data: bytes | None = None) -> dict:
        await a.send_to(text_data=text, bytes_data=data)
        reply = await a.receive_json_from(timeout=10)
        assert reply["type"] == "result" and reply["ok"] is False, reply
        assert reply["error"]["reason"] == "invalid_argument" and reply["error"]["code"] is None
        return reply

    assert (await error_for("not json"))["id"] is None
    assert (await error_for("[1, 2]"))["id"] is None
    assert (await error_for("null"))["id"] is None
    assert (await error_for(data=b"\xff\xfe"))["id"] is None
    assert (await error_for(json.dumps({"type": "dance", "id": 7})))["id"] == 7
    assert (await error_for(json.dumps({"type": "cmd", "id": "x1", "cmd": "callDance"})))["id"] == "x1"
    assert (await error_for(json.dumps({"type": "cmd", "id": 2, "cmd": 5})))["id"] == 2
    assert (await error_for(json.dumps({"type": "cmd", "id": 3, "cmd": "callInvite", "data": []})))["id"] == 3
    assert (
        await error_for(
            json.dumps({"type": "cmd", "id": 4, "cmd": "callInvite", "data": {"invitees": ["bob"], "timeout": -1}})
        )
    )["id"] == 4
    assert (await error_for(json.dumps({"type": "cmd", "id": 5, "cmd": "callAccept", "data": {}})))["id"] == 5
    assert (await error_for(json.dumps({"type": "cmd", "id": {"x": 1}, "cmd": "nope"})))["id"] is None
    assert (await error_for(json.dumps({"type": "cmd", "id": 6, "cmd": "queryCall", "data": {"callID": "a\u0000"}})))[
        "id"
    ] == 6
    assert (
        await error_for(
            json.dumps(
                {"type": "cmd", "id": 8, "cmd": "callInvite", "data": {"invitees": ["bob"], "extendedData": "\u0000"}}
            )
        )
    )["id"] == 8
    big = json.dumps({"type": "ping", "pad": "é" * 30000}, ensure_ascii=False)  # 60,000 bytes: allowed
    await a.send_to(text_data=big)
    assert await a.receive_json_from(timeout=10) == {"type": "pong"}
    assert await a.receive_nothing(0.2)
    # still usable after all that
    await a.send_json_to({"type": "ping"})
    assert await a.receive_json_from(timeout=10) == {"type": "pong"}
    assert await database_sync_to_async(Call.objects.count)() == 0
    await a.disconnect()


@pytest.mark.parametrize("pad", ["x" * (64 * 1024), "é" * 33000])  # the second: 33,000 characters, 66,000 bytes
async def test_frame_over_64kb_closes(tokens, pad):
    a, _ = await connect(tokens["alice"])
    await a.send_to(text_data=json.dumps({"type": "ping", "pad": pad}, ensure_ascii=False))
    reply = await a.receive_json_from(timeout=10)
    assert reply["ok"] is False and reply["error"]["reason"] == "invalid_argument"
    await closed_with(a, 1009)
    await a.disconnect()


# --- commands and events -------------------------------------------------------------------------


async def test_general_call_commands_and_recipients(tokens):
    a, _ = await connect(tokens["alice"], "a1")
    b1, _ = await connect(tokens["bob"], "b1")
    b2, _ = await connect(tokens["bob"], "b2")
    c, _ = await connect(tokens["carol"], "c1")
    d, _ = await connect(tokens["dave"], "d1")
    await a.send_json_to(
        {
            "type": "cmd",
            "id": "inv",
            "cmd": "callInvite",
            "data": {"invitees": ["bob", "carol", "ghost"], "extendedData": "v"},
        }
    )
    got = await frames(a, 3)
    [result] = results(got)
    assert result["id"] == "inv" and result["ok"] is True
    assert result["data"]["errorInvitees"] == [{"userID": "ghost", "reason": "user_not_found"}]
    call_id = result["data"]["callID"]
    assert events(got) == [("callInvitationCreated", 1), ("callUserStateChanged", 1)]
    for comm in (b1, b2, c):  # every device of every invitee
        assert events(await frames(comm, 2)) == [("callInvitationReceived", 1), ("callUserStateChanged", 1)]
    assert await d.receive_nothing(0.3)

    reply = await command(b1, "callCancel", "x", callID=call_id)
    assert reply == {
        "type": "result",
        "id": "x",
        "ok": False,
        "error": {"code": 6000273, "reason": "not_caller", "message": reply["error"]["message"]},
    }
    reply = await command(a, "callAccept", 9, callID=call_id)
    assert reply["ok"] is False and reply["id"] == 9 and reply["error"]["reason"] == "not_invited"
    reply = await command(d, "queryCall", 1, callID=call_id)
    assert reply["ok"] is False and reply["error"] == {
        "code": 6000276,
        "reason": "call_not_found",
        "message": reply["error"]["message"],
    }

    await b2.send_json_to({"type": "cmd", "id": 1, "cmd": "callReject", "data": {"callID": call_id, "reason": "busy"}})
    got = await frames(b2, 2)
    assert results(got)[0] == {"type": "result", "id": 1, "ok": True, "data": {"callID": call_id}}
    [change] = [f for f in got if f["type"] == "event"]
    assert change == {
        "type": "event",
        "event": "callUserStateChanged",
        "seq": 2,
        "data": {
            "callID": call_id,
            "callUserList": [{"userID": "bob", "state": 2, "extendedData": "", "reason": "busy"}],
        },
    }
    for comm in (a, b1, c):
        assert await frames(comm, 1) == [change]
    await c.send_json_to({"type": "cmd", "id": 1, "cmd": "callAccept", "data": {"callID": call_id}})
    got = await frames(c, 3)
    assert [f.get("event", "result") for f in got if f["type"] == "event"] == [
        "callUserStateChanged",
        "callInvitationEnded",
    ]
    ended = got[-1] if got[-1]["type"] == "event" else got[-2]
    assert ended["data"]["operatedUserID"] == "carol" and ended["data"]["caller"] == "alice"
    assert events(await frames(a, 2)) == [("callUserStateChanged", 3), ("callInvitationEnded", 3)]
    for comm in (b1, b2):  # bob rejected: he hears only... nothing more
        assert await comm.receive_nothing(0.2)
    assert await d.receive_nothing(0.2)

    info = await command(a, "queryCall", 2, callID=call_id)
    assert info["ok"] and info["data"]["state"] == 2 and info["data"]["seq"] == 3
    page = await command(b1, "queryCallInvitationList", 3, count=1, nextFlag=0)
    assert page["ok"] and [x["callID"] for x in page["data"]["callList"]] == [call_id]
    users = await command(a, "queryUsers", 4)
    assert users["ok"] and {u["userID"]: u["online"] for u in users["data"]["users"]} == {
        "bob": True,
        "carol": True,
        "dave": True,
    }
    for comm in (a, b1, b2, c, d):
        await comm.disconnect()


async def test_cancel_command(tokens):
    a, _ = await connect(tokens["alice"])
    b, _ = await connect(tokens["bob"])
    c, _ = await connect(tokens["carol"])
    reply = await command(a, "callInvite", 1, invitees=["bob", "carol"])
    call_id = reply["data"]["callID"]
    await frames(a, 2)
    await frames(b, 2)
    await frames(c, 2)
    await a.send_json_to(
        {
            "type": "cmd",
            "id": 2,
            "cmd": "callCancel",
            "data": {"callID": call_id, "invitees": ["bob"], "extendedData": "sorry"},
        }
    )
    got = await frames(a, 2)
    assert results(got)[0]["data"] == {"callID": call_id, "errorInvitees": []}
    bob_got = await frames(b, 2)
    assert events(bob_got) == [("callInvitationCancelled", 2), ("callUserStateChanged", 2)]
    assert bob_got[0]["data"] == {"callID": call_id, "inviter": "alice", "mode": 0, "extendedData": "sorry"}
    assert events(await frames(c, 1)) == [("callUserStateChanged", 2)]
    for comm in (a, b, c):
        await comm.disconnect()


async def test_advanced_commands(tokens):
    a, _ = await connect(tokens["alice"], "a1")
    b, _ = await connect(tokens["bob"], "b1")
    c, _ = await connect(tokens["carol"], "c1")
    reply = await command(a, "callInvite", 1, invitees=["bob"], mode=1)
    call_id = reply["data"]["callID"]
    await frames(a, 2)
    await frames(b, 2)
    assert await c.receive_nothing(0.2)
    reply = await command(c, "callingInvite", 1, callID=call_id, invitees=["dave"])
    assert reply["error"]["reason"] == "call_not_found"
    await c.send_json_to({"type": "cmd", "id": 2, "cmd": "callJoin", "data": {"callID": call_id}})
    got = await frames(c, 2)
    joined = results(got)[0]
    assert joined["ok"] and joined["data"]["callID"] == call_id and "joinTime" in joined["data"]
    assert events(got) == [("callUserStateChanged", 2)]
    for comm in (a, b):
        assert events(await frames(comm, 1)) == [("callUserStateChanged", 2)]
    await a.send_json_to(
        {
            "type": "cmd",
            "id": 3,
            "cmd": "callingInvite",
            "data": {"callID": call_id, "invitees": ["dave"], "timeout": 10},
        }
    )
    got = await frames(a, 2)
    assert results(got)[0]["data"] == {"callID": call_id, "timeout": 10, "errorInvitees": []}
    await frames(b, 1)
    await frames(c, 1)
    await c.send_json_to({"type": "cmd", "id": 4, "cmd": "callQuit", "data": {"callID": call_id}})
    got = await frames(c, 2)
    assert set(results(got)[0]["data"]) >= {"callID", "createTime", "acceptTime", "quitTime"}
    await frames(a, 1)
    await frames(b, 1)
    reply = await command(b, "callEnd", 5, callID=call_id)  # bob is still only invited
    assert reply["error"]["reason"] == "invalid_state"
    await a.send_json_to({"type": "cmd", "id": 6, "cmd": "callEnd", "data": {"callID": call_id, "extendedData": "e"}})
    got = await frames(a, 2)
    assert set(results(got)[0]["data"]) >= {"callID", "createTime", "acceptTime", "endTime"}
    assert events(got) == [("callInvitationEnded", 5)]
    assert events(await frames(b, 1)) == [("callInvitationEnded", 5)]
    assert await c.receive_nothing(0.3)  # quit: no longer hears about the call
    reply = await command(a, "callJoin", 7, callID=call_id, extendedData="")
    assert reply["error"] == {"code": 6000276, "reason": "call_ended", "message": reply["error"]["message"]}
    for comm in (a, b, c):
        await comm.disconnect()


async def test_presence_group(tokens):
    a, _ = await connect(tokens["alice"], query="presence=1")
    b, _ = await connect(tokens["bob"])
    got = await frames(a, 1)
    assert got[0]["event"] == "userPresenceChanged" and got[0]["data"] == {"userID": "bob", "online": True}
    await b.disconnect()
    got = await frames(a, 1)
    assert got[0]["data"] == {"userID": "bob", "online": False}
    await a.disconnect()


async def test_socket_over_the_per_user_limit_closed_4429(tokens, settings, alice):
    """A socket beyond CALL_MAX_SOCKETS_PER_USER is closed
    with 4429 and leaves no row; the others keep working."""
    settings.CALL_MAX_SOCKETS_PER_USER = 2
    first, _ = await connect(tokens["alice"], "a1")
    second, _ = await connect(tokens["alice"], "a2")
    third = ws(tokens["alice"], "a3")
    await third.connect(timeout=10)
    await closed_with(third, 4429)
    await third.disconnect()
    assert await database_sync_to_async(
        lambda: sorted(Connection.objects.filter(user=alice).values_list("device_id", flat=True))
    )() == ["a1", "a2"]
    await first.send_json_to({"type": "ping"})
    assert await first.receive_json_from(timeout=10) == {"type": "pong"}
    await first.disconnect()
    # one closed: there is room again
    fourth, _ = await connect(tokens["alice"], "a4")
    await second.disconnect()
    await fourth.disconnect()


async def test_commands_over_the_socket_rate_answer_rate_limited_then_recover(tokens):
    """PROTOCOL "Limits (version 3)", at the defaults: 20 commands a second per
    socket, bursts of 40; a command beyond answers rate_limited and changes
    nothing, the socket stays open, and the bucket fills again."""
    a, _ = await connect(tokens["alice"])
    b, _ = await connect(tokens["alice"], "a2")  # another socket of the same user: a bucket of its own
    sent = 100
    for i in range(sent):
        await a.send_json_to({"type": "cmd", "id": i, "cmd": "queryUsers", "data": {"count": 1}})
    results = [await a.receive_json_from(timeout=10) for _ in range(sent)]
    assert [r["id"] for r in results] == list(range(sent))
    ok = [r for r in results if r["ok"]]
    limited = [r for r in results if not r["ok"]]
    assert results[:40] == ok[:40]  # the burst
    assert 40 <= len(ok) < sent and limited, (len(ok), len(limited))
    assert limited[0]["error"]["reason"] == "rate_limited" and limited[0]["error"]["code"] is None
    await b.send_json_to({"type": "cmd", "id": "other", "cmd": "queryUsers", "data": {"count": 1}})
    assert (await b.receive_json_from(timeout=10))["ok"]
    await asyncio.sleep(1.0)  # 20 tokens again
    for i in range(15):
        await a.send_json_to({"type": "cmd", "id": f"again{i}", "cmd": "queryUsers", "data": {"count": 1}})
    again = [await a.receive_json_from(timeout=10) for _ in range(15)]
    assert all(r["ok"] for r in again), again
    await a.send_json_to({"type": "ping"})  # pings are not commands
    assert await a.receive_json_from(timeout=10) == {"type": "pong"}
    await a.disconnect()
    await b.disconnect()
