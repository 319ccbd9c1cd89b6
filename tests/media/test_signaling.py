"""Media signaling (PROTOCOL "Media signaling"): callSignal through the real
WebSocket stack and the real Redis channel layer, and the ICE servers.

Each test proves who receives a signal (exactly the target's call device) and
who receives nothing, and that every refusal is PROTOCOL's error object.
"""

import base64
import hashlib
import hmac
import time

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from invitations.accounts import token_actions
from invitations.calls import actions, payloads
from invitations.media import signaling
from invitations.models import Call, CallEvent
from tests.conftest import PASSWORD
from tests.realtime.test_consumer import close_sync_thread_connections, command, connect, tokens  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_passwords")]

OFFER = {"type": "offer", "sdp": "v=0\r\n"}


async def run(comm, cmd: str, cmd_id: int = 1, **data) -> dict:
    """A command's result (events that arrive before it are dropped; drain() drops the rest)."""
    reply = await command(comm, cmd, cmd_id, **data)
    while reply["type"] != "result":
        reply = await comm.receive_json_from(timeout=10)
    return reply


async def signal(comm, call_id: str, to: str, kind: str = "offer", payload=None, cmd_id=1) -> dict:
    return await command(
        comm,
        "callSignal",
        cmd_id,
        callID=call_id,
        toUserID=to,
        kind=kind,
        payload=OFFER if payload is None else payload,
    )


def refused(result: dict, reason: str) -> None:
    assert result["type"] == "result" and result["ok"] is False, result
    assert result["error"]["reason"] == reason, result


async def nothing(*comms) -> None:
    for comm in comms:
        assert await comm.receive_nothing(0.3), await comm.receive_json_from()


async def received(comm) -> dict:
    frame = await comm.receive_json_from(timeout=10)
    assert frame["type"] == "event" and frame["event"] == "callSignalReceived", frame
    assert frame["seq"] == 0
    payloads.check_event_frame(frame)  # PROTOCOL's shape, nothing more
    return frame["data"]


async def drain(*comms) -> None:
    """Drop the call-state events the setup caused."""
    for comm in comms:
        while not await comm.receive_nothing(0.3):
            await comm.receive_json_from()


async def in_call(tokens, mode: int = 1):
    """alice (a1) calls bob, bob accepts on b1; bob also has b2 open, carol c1 is online."""
    a1, _ = await connect(tokens["alice"], "a1")
    a2, _ = await connect(tokens["alice"], "a2")
    b1, _ = await connect(tokens["bob"], "b1")
    b2, _ = await connect(tokens["bob"], "b2")
    c1, _ = await connect(tokens["carol"], "c1")
    invite = await run(a1, "callInvite", 1, invitees=["bob"], mode=mode)
    assert invite["ok"], invite
    call_id = invite["data"]["callID"]
    assert (await run(b1, "callAccept", 2, callID=call_id))["ok"]
    await drain(a1, a2, b1, b2, c1)
    return call_id, a1, a2, b1, b2, c1


async def test_signal_reaches_exactly_the_targets_call_device(tokens, alice, bob, carol):
    call_id, a1, a2, b1, b2, c1 = await in_call(tokens)
    seq_before = await database_sync_to_async(lambda: Call.objects.get(call_id=call_id).seq)()
    events_before = await database_sync_to_async(CallEvent.objects.count)()

    result = await signal(a1, call_id, "bob", "offer", OFFER)
    assert result == {"type": "result", "id": 1, "ok": True, "data": {"callID": call_id}}
    data = await received(b1)
    assert data == {"callID": call_id, "fromUserID": "alice", "fromDeviceID": "a1", "kind": "offer", "payload": OFFER}
    await nothing(a1, a2, b2, c1)

    for kind, payload in (
        ("answer", {"type": "answer", "sdp": "v=0\r\n"}),
        ("candidate", {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}),
        ("bye", {}),
    ):
        assert (await signal(b1, call_id, "alice", kind, payload))["ok"]
        data = await received(a1)
        assert (data["fromUserID"], data["fromDeviceID"], data["kind"], data["payload"]) == ("bob", "b1", kind, payload)
        await nothing(a2, b1, b2, c1)

    # nothing stored: no event row, the call's version unchanged
    assert await database_sync_to_async(lambda: Call.objects.get(call_id=call_id).seq)() == seq_before
    assert await database_sync_to_async(CallEvent.objects.count)() == events_before
    for comm in (a1, a2, b1, b2, c1):
        await comm.disconnect()


async def test_authorization_matrix(tokens, alice, bob, carol, dave):
    call_id, a1, a2, b1, b2, c1 = await in_call(tokens)
    d1, _ = await connect(tokens["dave"], "d1")
    everyone = (a1, a2, b1, b2, c1, d1)

    refused(await signal(c1, call_id, "bob"), "call_not_found")  # not a member
    refused(await signal(a1, "no-such-call", "bob"), "call_not_found")
    refused(await signal(a1, call_id, "dave"), "invalid_argument")  # target not a member
    refused(await signal(a1, call_id, "nobody"), "invalid_argument")
    refused(await signal(a1, call_id, "alice"), "invalid_argument")  # oneself
    refused(await signal(b2, call_id, "alice"), "invalid_state")  # bob's other device
    refused(await signal(a2, call_id, "bob"), "invalid_state")  # alice's other device
    await nothing(*everyone)

    # carol invited during the call: pending, neither she nor anyone may signal with her
    assert (await run(a1, "callingInvite", 3, callID=call_id, invitees=["carol"]))["ok"]
    await drain(*everyone)
    refused(await signal(c1, call_id, "alice"), "invalid_state")
    refused(await signal(a1, call_id, "carol"), "invalid_state")
    await nothing(*everyone)

    # bob quits: a Quit member neither sends nor receives
    assert (await run(b1, "callQuit", 4, callID=call_id))["ok"]
    await drain(*everyone)
    refused(await signal(b1, call_id, "alice"), "invalid_state")
    refused(await signal(a1, call_id, "bob"), "invalid_state")
    await nothing(*everyone)

    # carol accepts: alice and carol may signal; then the call ends: call_ended for everyone
    assert (await run(c1, "callAccept", 5, callID=call_id))["ok"]
    await drain(*everyone)
    assert (await signal(c1, call_id, "alice"))["ok"]
    assert (await received(a1))["fromUserID"] == "carol"
    assert (await run(a1, "callEnd", 6, callID=call_id))["ok"]
    await drain(*everyone)
    refused(await signal(a1, call_id, "carol"), "call_ended")
    refused(await signal(c1, call_id, "alice"), "call_ended")
    refused(await signal(d1, call_id, "alice"), "call_not_found")
    await nothing(*everyone)
    for comm in everyone:
        await comm.disconnect()


async def test_general_mode_signals_pass_after_the_call_ended_within_the_media_window(
    tokens, settings, alice, bob, carol
):
    call_id, a1, a2, b1, b2, c1 = await in_call(tokens, mode=0)
    # everyone answered: the general-mode call has Ended, media goes on
    assert await database_sync_to_async(lambda: Call.objects.get(call_id=call_id).state)() == 2
    assert (await signal(a1, call_id, "bob"))["ok"]
    assert (await received(b1))["fromUserID"] == "alice"
    settings.CALL_MEDIA_MAX_SECONDS = 0.001
    refused(await signal(a1, call_id, "bob"), "call_ended")
    refused(await signal(b1, call_id, "alice"), "call_ended")
    await nothing(a1, a2, b1, b2, c1)
    for comm in (a1, a2, b1, b2, c1):
        await comm.disconnect()


async def test_payload_size_limit(tokens, alice, bob, carol):
    call_id, a1, a2, b1, b2, c1 = await in_call(tokens)
    at_limit = {"sdp": "x" * (16 * 1024 - len('{"sdp":""}'))}
    assert (await signal(a1, call_id, "bob", payload=at_limit))["ok"]
    assert (await received(b1))["payload"] == at_limit
    over = {"sdp": at_limit["sdp"] + "x"}
    refused(await signal(a1, call_id, "bob", payload=over), "invalid_argument")
    refused(await signal(a1, call_id, "bob", payload=["not", "an", "object"]), "invalid_argument")
    refused(await signal(a1, call_id, "bob", kind="hello"), "invalid_argument")
    await nothing(a1, a2, b1, b2, c1)
    for comm in (a1, a2, b1, b2, c1):
        await comm.disconnect()


async def test_rate_limit(tokens, settings, alice, bob, carol):
    call_id, a1, a2, b1, b2, c1 = await in_call(tokens)
    settings.CALL_SIGNAL_RATE_PER_MINUTE = 3
    for _attempt in range(2):  # the counter's window is a clock minute: retry once if one turned meanwhile
        minute = int(time.time() // 60)
        outcomes = [await signal(a1, call_id, "bob", "candidate", {"candidate": ""}, cmd_id=i) for i in range(4)]
        if int(time.time() // 60) == minute:
            break
        await drain(b1)
    assert [o["ok"] for o in outcomes] == [True, True, True, False]
    refused(outcomes[3], "rate_limited")
    assert outcomes[3]["error"]["code"] is None
    for _ in range(3):
        await received(b1)
    await nothing(a1, a2, b1, b2, c1)
    for comm in (a1, a2, b1, b2, c1):
        await comm.disconnect()


async def test_signals_follow_a_call_join_to_the_new_device(tokens, alice, bob, carol):
    call_id, a1, a2, b1, b2, c1 = await in_call(tokens)
    assert (await run(b2, "callJoin", 7, callID=call_id))["ok"]  # bob moves the call to b2
    await drain(a1, a2, b1, b2, c1)
    assert (await signal(a1, call_id, "bob"))["ok"]
    assert (await received(b2))["fromDeviceID"] == "a1"
    await nothing(a1, a2, b1, c1)
    refused(await signal(b1, call_id, "alice"), "invalid_state")  # the old device is no longer the call's
    assert (await signal(b2, call_id, "alice", "answer"))["ok"]
    assert (await received(a1))["fromDeviceID"] == "b2"
    await nothing(a2, b1, b2, c1)
    for comm in (a1, a2, b1, b2, c1):
        await comm.disconnect()


async def test_member_without_call_device_gets_signals_on_every_device(tokens, alice, bob):
    # a call placed over HTTP has no call device for the caller
    result = await database_sync_to_async(actions.call_invite)(user=alice, invitees=["bob"], mode=1)
    call_id = result["callID"]
    a1, _ = await connect(tokens["alice"], "a1")
    a2, _ = await connect(tokens["alice"], "a2")
    b1, _ = await connect(tokens["bob"], "b1")
    assert (await run(b1, "callAccept", 2, callID=call_id))["ok"]
    await drain(a1, a2, b1)
    assert (await signal(b1, call_id, "alice"))["ok"]
    assert (await received(a1))["fromUserID"] == "bob"
    assert (await received(a2))["fromUserID"] == "bob"
    # and such a member may signal from any of its devices
    assert (await signal(a2, call_id, "bob", "answer"))["ok"]
    assert (await received(b1))["fromDeviceID"] == "a2"
    await nothing(a1, a2, b1)
    for comm in (a1, a2, b1):
        await comm.disconnect()


# --- ICE servers ---------------------------------------------------------------------------------


def expected_credential(secret: str, username: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


ICE = [
    {"urls": "stun:turn.example.org:3478"},
    {"urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]},
    {"urls": "turn:static.example.org", "username": "fixed", "credential": "kept"},
]
STUN_ONLY = {"iceServers": [{"urls": "stun:turn.example.org:3478"}]}


async def ice(comm, cmd_id: int = 9) -> dict:
    result = await run(comm, "queryIceServers", cmd_id)
    assert result["ok"], result
    return result["data"]


async def test_ice_servers_with_turn_rest_credentials_for_an_accepted_member(tokens, settings, alice, bob, carol):
    settings.CALL_ICE_SERVERS = ICE
    settings.CALL_TURN_SECRET = "s3cret"
    call_id, a1, a2, b1, b2, c1 = await in_call(tokens)
    before = int(time.time())
    stun, turn, static = (await ice(b1))["iceServers"]
    assert stun == {"urls": "stun:turn.example.org:3478"}
    assert static == {"urls": "turn:static.example.org", "username": "fixed", "credential": "kept"}
    expiry, user_id = turn["username"].split(":")
    # valid CALL_TURN_TTL_SECONDS, by default an hour
    assert user_id == "bob" and before + 3600 <= int(expiry) <= int(time.time()) + 3600
    assert turn["credential"] == expected_credential("s3cret", turn["username"])
    assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
    settings.CALL_TURN_TTL_SECONDS = 600
    assert int((await ice(a2))["iceServers"][1]["username"].split(":")[0]) <= int(time.time()) + 600
    for comm in (a1, a2, b1, b2, c1):
        await comm.disconnect()


async def test_turn_entries_only_while_media_may_flow(tokens, settings, alice, bob, carol, dave):
    """No call, ringing, a member who left, an ended call: STUN only."""
    settings.CALL_ICE_SERVERS = ICE
    settings.CALL_TURN_SECRET = "s3cret"
    a1, _ = await connect(tokens["alice"], "a1")
    b1, _ = await connect(tokens["bob"], "b1")
    c1, _ = await connect(tokens["carol"], "c1")
    assert await ice(a1) == STUN_ONLY  # signed in, in no call
    invite = await run(a1, "callInvite", 1, invitees=["bob", "carol"], mode=1)
    call_id = invite["data"]["callID"]
    assert len((await ice(a1))["iceServers"]) == 3  # the caller is Accepted from the start
    assert await ice(b1) == STUN_ONLY  # ringing
    assert (await run(b1, "callAccept", 2, callID=call_id))["ok"]
    assert (await run(c1, "callReject", 2, callID=call_id))["ok"]
    assert len((await ice(b1))["iceServers"]) == 3
    assert await ice(c1) == STUN_ONLY  # rejected
    assert (await run(b1, "callQuit", 3, callID=call_id))["ok"]
    assert await ice(b1) == STUN_ONLY  # left
    assert (await run(a1, "callEnd", 3, callID=call_id))["ok"]
    assert await ice(a1) == STUN_ONLY  # ended (advanced mode)
    for comm in (a1, b1, c1):
        await comm.disconnect()


async def test_turn_entries_in_a_general_call_until_the_media_window_closes(tokens, settings, alice, bob):
    settings.CALL_ICE_SERVERS = ICE
    settings.CALL_TURN_SECRET = "s3cret"
    call_id, a1, a2, b1, b2, c1 = await in_call(tokens, mode=0)
    assert await database_sync_to_async(lambda: Call.objects.get(call_id=call_id).state)() == 2  # Ended
    assert len((await ice(b1))["iceServers"]) == 3  # media goes on after a general call ends
    settings.CALL_MEDIA_MAX_SECONDS = 0
    assert await ice(b1) == STUN_ONLY
    for comm in (a1, a2, b1, b2, c1):
        await comm.disconnect()


async def test_ice_servers_default_empty_and_no_credentials_without_secret(tokens, settings, alice, bob):
    call_id, a1, a2, b1, b2, c1 = await in_call(tokens)
    settings.CALL_ICE_SERVERS = []
    assert await ice(a1, 1) == {"iceServers": []}
    settings.CALL_ICE_SERVERS = [{"urls": "turn:turn.example.org"}]
    settings.CALL_TURN_SECRET = ""
    assert await ice(a1, 2) == {"iceServers": [{"urls": "turn:turn.example.org"}]}
    for comm in (a1, a2, b1, b2, c1):
        await comm.disconnect()


def test_ice_servers_over_http_checked_by_recomputing_the_hmac(settings, alice, bob, carol):
    settings.CALL_ICE_SERVERS = [{"urls": "stun:stun.example.org"}, {"urls": ["turn:turn.example.org:3478"]}]
    settings.CALL_TURN_SECRET = "another-secret"
    call_id = actions.call_invite(user=alice, device_id="", invitees=["bob"], mode=1)["callID"]
    actions.call_accept(user=bob, device_id="", call_id=call_id)
    token = token_actions.api_token_create(user=bob)
    answer = Client().get("/api/ice-servers", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 200, answer.content
    stun, turn = answer.json()["iceServers"]
    assert turn["username"].endswith(":bob")
    assert turn["credential"] == expected_credential("another-secret", turn["username"])
    assert turn["credential"] != expected_credential("s3cret", turn["username"])
    # a session works too (the page); carol, in no call, gets no relay; nobody else gets anything
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    assert client.get("/api/ice-servers").json()["iceServers"][1]["username"].endswith(":alice")
    outsider = Client()
    assert outsider.login(username="carol", password=PASSWORD)
    assert outsider.get("/api/ice-servers").json() == {"iceServers": [{"urls": "stun:stun.example.org"}]}
    refused = Client().get("/api/ice-servers")
    assert refused.status_code == 401 and refused.json()["error"]["reason"] == "unauthenticated"


def test_an_entry_mixing_stun_and_turn_keeps_its_stun_urls_and_schemes_are_case_blind(settings, alice, carol):
    """One server often serves both ({"urls": ["stun:…", "turn:…"]}): outside a call the
    entry keeps its STUN URLs, without the relay; "TURN:" is a TURN URL too (RFC 7065)."""
    settings.CALL_ICE_SERVERS = [
        {"urls": ["stun:media.example.org:3478", "turn:media.example.org:3478"]},
        {"urls": "TURN:upper.example.org", "username": "u", "credential": "c"},
        {"urls": ["TURNS:upper.example.org:5349"]},
    ]
    settings.CALL_TURN_SECRET = "s3cret"
    assert signaling.ice_servers(user=carol) == {"iceServers": [{"urls": ["stun:media.example.org:3478"]}]}
    call_id = actions.call_invite(user=alice, device_id="", invitees=["carol"], mode=1)["callID"]
    actions.call_accept(user=carol, device_id="", call_id=call_id)
    mixed, static, rest = signaling.ice_servers(user=carol)["iceServers"]
    assert mixed["urls"] == ["stun:media.example.org:3478", "turn:media.example.org:3478"]
    assert mixed["username"].endswith(":carol") and rest["username"].endswith(":carol")
    assert static == {"urls": "TURN:upper.example.org", "username": "u", "credential": "c"}
