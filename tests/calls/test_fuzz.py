"""Bad input: schemathesis over /api/openapi.json (through Django's WSGI
application, with a real bearer token) and a WebSocket fuzz (malformed JSON,
unknown commands and types, wrong field types, frames over 64 KB, floods).
No 500 anywhere; every refusal is PROTOCOL's error object; no state changes."""

from __future__ import annotations

import json
import os
import random

import pytest
import schemathesis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck
from hypothesis import settings as hsettings

from callsite.asgi import application
from callsite.wsgi import application as wsgi_application
from invitations.accounts import token_actions
from tests.calls.test_state_machine import db_snapshot

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
ERROR_KEYS = {"code", "reason", "message"}

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", wsgi_application)


@pytest.fixture
def fuzz_token(make_user):
    user = make_user("fuzzer")
    make_user("bob")
    return token_actions.api_token_create(user=user)


@pytest.mark.django_db(transaction=True)  # each WSGI request closes its connection
@schema.parametrize()
@hsettings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_fuzz(case, fuzz_token):
    response = case.call(headers={"Authorization": f"Bearer {fuzz_token}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body


# --- WebSocket ------------------------------------------------------------------------------

BAD_FRAMES: list[str | bytes] = [
    " ",
    "not json",
    "{",
    "[]",
    "null",
    "42",
    '"cmd"',
    "{}",
    '{"type": null}',
    '{"type": "nope"}',
    '{"type": "cmd"}',
    '{"type": "cmd", "cmd": null}',
    '{"type": "cmd", "cmd": 5, "id": 1}',
    '{"type": "cmd", "cmd": "selfDestruct", "id": 2}',
    '{"type": "cmd", "cmd": "callInvite", "id": 3}',
    '{"type": "cmd", "cmd": "callInvite", "id": [1], "data": {"invitees": "bob"}}',
    '{"type": "cmd", "cmd": "callInvite", "id": 4, "data": {"invitees": ["bob"], "timeout": "90"}}',
    '{"type": "cmd", "cmd": "callInvite", "id": 5, "data": {"invitees": ["bob"], "timeout": -1}}',
    '{"type": "cmd", "cmd": "callInvite", "id": 6, "data": {"invitees": ["bob"], "mode": 7}}',
    '{"type": "cmd", "cmd": "callInvite", "id": 7, "data": {"invitees": ["bob"], "extra": 1}}',
    '{"type": "cmd", "cmd": "callInvite", "id": 8, "data": {"invitees": []}}',
    '{"type": "cmd", "cmd": "callInvite", "id": 9, "data": {"invitees": ["bob"], "extendedData": 5}}',
    '{"type": "cmd", "cmd": "callInvite", "id": 10, "data": {"invitees": [""]}}',
    '{"type": "cmd", "cmd": "callInvite", "id": 11, "data": "x"}',
    '{"type": "cmd", "cmd": "callAccept", "id": 12, "data": {"callID": 5}}',
    '{"type": "cmd", "cmd": "callAccept", "id": 13, "data": {"callID": "no-such-call"}}',
    '{"type": "cmd", "cmd": "callCancel", "id": 14, "data": {"callID": "' + "x" * 500 + '"}}',
    '{"type": "cmd", "cmd": "callReject", "id": 15, "data": {"callID": "c", "reason": "bored"}}',
    '{"type": "cmd", "cmd": "queryCallInvitationList", "id": 16, "data": {"count": -1}}',
    '{"type": "cmd", "cmd": "queryCallInvitationList", "id": 17, "data": {"nextFlag": "a"}}',
    '{"type": "cmd", "cmd": "callInvite", "id": 18, "data": {"invitees": ["bob"], "extendedData": "'
    + "é" * 1100
    + '"}}',
    '{"type": "cmd", "cmd": "callInvite", "id": true, "data": {"invitees": ["bob"], "pushConfig": {"title": 1}}}',
    b"\xff\xfe\x00binary",
    '{"type": "ping", "id": {"nested": [1, 2, {"deep": null}]}}',
    json.dumps({"type": "cmd", "cmd": "callInvite", "id": 19, "data": {"invitees": ["bob"] * 101}}),
    json.dumps([{"type": "cmd"}] * 1000),
    '{"a":' * 200 + "1" + "}" * 200,
]


def _random_frames(rng: random.Random, n: int) -> list[str]:
    cmds = [
        "callInvite",
        "callCancel",
        "callAccept",
        "callReject",
        "callingInvite",
        "callJoin",
        "callQuit",
        "callEnd",
        "queryCallInvitationList",
        "queryCall",
        "queryUsers",
        "x",
        "",
    ]
    values = [None, True, -1, 0, 2**70, 1.5, "", "bob", "\u0000", [], {}, ["bob"], [None], {"a": 1}]
    frames = []
    for i in range(n):
        data = {
            rng.choice(
                [
                    "invitees",
                    "callID",
                    "timeout",
                    "mode",
                    "extendedData",
                    "reason",
                    "count",
                    "nextFlag",
                    "pushConfig",
                    "zzz",
                ]
            ): rng.choice(values)
            for _ in range(rng.randint(0, 4))
        }
        frames.append(
            json.dumps(
                {
                    "type": rng.choice(["cmd", "cmd", "ping", 1, None]),
                    "id": i,
                    "cmd": rng.choice(cmds),
                    "data": rng.choice([data, data, None, [], "s"]),
                }
            )
        )
    return frames


async def _socket(token: str, device: str) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(
        application, f"/ws/calls/?deviceID={device}", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from(5))["type"] == "hello"
    return ws


@pytest.mark.django_db(transaction=True)
async def test_websocket_fuzz(make_user, capsys, settings):
    settings.CALL_SOCKET_COMMANDS_PER_SECOND = 0  # bad input here; the rate is tested in test_consumers
    fuzzer, bob = [await database_sync_to_async(make_user)(n) for n in ("fuzzer", "bob")]
    ft = await database_sync_to_async(token_actions.api_token_create)(user=fuzzer)
    bt = await database_sync_to_async(token_actions.api_token_create)(user=bob)
    bystander = await _socket(bt, "bob-1")
    ws = await _socket(ft, "f-1")
    before = await database_sync_to_async(db_snapshot)()
    frames = BAD_FRAMES + _random_frames(random.Random(int(os.environ.get("FUZZ_SEED", "7"))), 300)
    for frame in frames:
        if isinstance(frame, bytes):
            await ws.send_to(bytes_data=frame)
        else:
            await ws.send_to(text_data=frame)
        answer = await ws.receive_output(10)
        assert answer["type"] == "websocket.send", (frame[:80], answer)
        reply = json.loads(answer["text"])
        if reply["type"] == "pong":
            continue
        if reply["type"] == "result" and reply["ok"]:
            continue  # a well-formed query (queryCallInvitationList, queryUsers) may well succeed
        assert reply["type"] == "result" and set(reply["error"]) == ERROR_KEYS, (frame[:80], reply)
        assert reply["error"]["reason"] in (
            "invalid_argument",
            "call_not_found",
            "no_invitee_registered",
            "too_many_participants",
        ), reply
    # nothing changed, except possibly... nothing: no refused frame may write
    after = await database_sync_to_async(db_snapshot)()
    assert after[:3] == before[:3]

    # a flood: 500 pings and 200 bad commands without reading, then everything is answered in order
    for _i in range(500):
        await ws.send_to(text_data='{"type": "ping"}')
    for i in range(200):
        await ws.send_to(text_data=json.dumps({"type": "cmd", "id": i, "cmd": "callAccept", "data": {"callID": "x"}}))
    replies = [json.loads((await ws.receive_output(10))["text"]) for _ in range(700)]
    assert [r["type"] for r in replies] == ["pong"] * 500 + ["result"] * 200
    assert [r["id"] for r in replies[500:]] == list(range(200))

    # a frame over 64 KB: refused, the socket is closed with 1009
    await ws.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * settings.CALL_MAX_FRAME_BYTES}))
    error = json.loads((await ws.receive_output(5))["text"])
    assert error["error"]["reason"] == "invalid_argument"
    assert await ws.receive_output(5) == {"type": "websocket.close", "code": 1009}
    await ws.disconnect()

    # the bystander heard nothing of it and still works
    assert await bystander.receive_nothing(0.5)
    await bystander.send_json_to({"type": "ping"})
    assert await bystander.receive_json_from(5) == {"type": "pong"}
    await bystander.disconnect()
    with capsys.disabled():
        print(f"\nWebSocket fuzz: {len(frames)} bad frames, a flood of 700, one frame over 64 KB")
