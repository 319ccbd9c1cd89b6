"""Do not disturb (PROTOCOL "Do not disturb"): the status set and read over HTTP and
the WebSocket, `until` read against the clock (moved with time-machine), and what
it changes for an invitation: `silent` frames, live and on connect, and no push;
nothing changes for the caller."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from invitations.accounts import status, token_actions
from invitations.calls import actions
from invitations.calls.payloads import ms
from invitations.calls.states import CallUserState
from invitations.models import CallUser, PushMessage
from invitations.realtime import presence
from tests.delivery.test_push import deliver_all, subscribe
from tests.realtime.test_consumer import command, connect, frames

NOON = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def put(client, user, body):
    client.force_login(user)
    return client.put("/api/me/status", json.dumps(body), content_type="application/json")


def get(client, user):
    client.force_login(user)
    return client.get("/api/me/status")


def go_online(user, device="tab") -> None:
    presence.server_process_heartbeat(server_id="status-test", host="test", pid=1)
    presence.connection_open(
        user=user, device_id=device, channel_name=f"chan-{user.pk}-{device}", server_id="status-test"
    )


# --- the status itself ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_available_until_set_and_dnd_until_turned_off(client, bob):
    assert get(client, bob).json() == {"status": "available", "until": None}
    answer = put(client, bob, {"status": "dnd"})
    assert answer.status_code == 200 and answer.json() == {"status": "dnd", "until": None}
    assert get(client, bob).json() == {"status": "dnd", "until": None}
    assert put(client, bob, {"status": "available"}).json() == {"status": "available", "until": None}
    assert get(client, bob).json() == {"status": "available", "until": None}


@pytest.mark.django_db
def test_a_dnd_ends_by_itself_at_until(client, bob):
    until = NOON + timedelta(hours=1)
    with time_machine.travel(NOON, tick=False) as clock:
        answer = put(client, bob, {"status": "dnd", "until": ms(until)})
        assert answer.json() == {"status": "dnd", "until": ms(until)}
        clock.move_to(until - timedelta(milliseconds=1))
        assert get(client, bob).json() == {"status": "dnd", "until": ms(until)}
        clock.move_to(until)  # `until` is the first moment it is over
        assert get(client, bob).json() == {"status": "available", "until": None}


@pytest.mark.django_db
def test_an_until_already_past_answers_available(client, bob):
    with time_machine.travel(NOON, tick=False):
        answer = put(client, bob, {"status": "dnd", "until": ms(NOON - timedelta(seconds=1))})
        assert answer.json() == {"status": "available", "until": None}
        assert get(client, bob).json() == {"status": "available", "until": None}


@pytest.mark.django_db
def test_available_has_no_until(client, bob):
    assert put(client, bob, {"status": "available", "until": ms(timezone.now()) + 60_000}).json() == {
        "status": "available",
        "until": None,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"status": "away"},
        {"status": "DND"},
        {"status": ""},
        {},
        {"status": "dnd", "until": "tomorrow"},
        {"status": "dnd", "until": 1.5},
        {"status": "dnd", "until": -1},
        {"status": "dnd", "until": 10**16},
        {"status": "dnd", "until": True},
        {"status": "dnd", "untill": 5},
        {"status": None},
    ],
)
def test_another_status_or_a_bad_until_is_invalid_argument(client, bob, body):
    answer = put(client, bob, body)
    assert answer.status_code == 400
    assert answer.json()["error"]["reason"] == "invalid_argument"
    assert get(client, bob).json() == {"status": "available", "until": None}  # nothing changed


@pytest.mark.django_db
def test_the_status_needs_a_user_and_a_csrf_token(client, bob):
    assert client.get("/api/me/status").json()["error"]["reason"] == "unauthenticated"
    token = token_actions.api_token_create(user=bob)
    answer = client.put(
        "/api/me/status", '{"status": "dnd"}', content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert answer.json() == {"status": "dnd", "until": None}
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(bob)
    refused = strict.put("/api/me/status", '{"status": "available"}', content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"]["reason"] == "csrf_failed"
    assert status.user_status_get(user=bob)["status"] == "dnd"


@pytest.mark.django_db
def test_each_user_has_their_own_status(client, alice, bob):
    put(client, bob, {"status": "dnd"})
    assert get(client, alice).json()["status"] == "available"


# --- invitations while in dnd --------------------------------------------------------------------


def received(sent, user) -> dict:
    [data] = [d for name, _, d in sent.events(user) if name == "callInvitationReceived"]
    return data


@pytest.mark.django_db
def test_an_invitation_to_a_user_in_dnd_is_silent_and_the_caller_sees_no_difference(capture_frames, alice, bob, carol):
    status.user_status_set(user=bob, status="dnd")
    go_online(bob)
    go_online(carol)
    with capture_frames() as sent:
        call_id = actions.call_invite(user=alice, invitees=["bob", "carol"], timeout=60)["callID"]
    assert received(sent, bob)["silent"] is True
    assert "silent" not in received(sent, carol)
    # apart from `silent`, the same frame
    assert {k: v for k, v in received(sent, bob).items() if k != "silent"} == received(sent, carol)
    # the caller: created and state changes as always; both Received
    to_alice = [name for name, _, _ in sent.events(alice)]
    assert to_alice == ["callInvitationCreated", "callUserStateChanged"]
    assert all("silent" not in json.dumps(d) for _, _, d in sent.events(alice))
    states = dict(CallUser.objects.filter(call__call_id=call_id).values_list("user__username", "state"))
    assert states == {"alice": CallUserState.ACCEPTED, "bob": CallUserState.RECEIVED, "carol": CallUserState.RECEIVED}


@pytest.mark.django_db
def test_calling_invite_is_silent_too_and_once_until_passed_invitations_ring(capture_frames, alice, bob, carol, dave):
    with time_machine.travel(NOON, tick=False) as clock:
        status.user_status_set(user=carol, status="dnd", until=ms(NOON + timedelta(minutes=30)))
        for user in (bob, carol):
            go_online(user)
        call_id = actions.call_invite(user=alice, invitees=["bob"], mode=1, timeout=600)["callID"]
        actions.call_accept(user=bob, call_id=call_id)
        with capture_frames() as sent:
            actions.calling_invite(user=bob, call_id=call_id, invitees=["carol"], timeout=600)
        assert received(sent, carol)["silent"] is True
        clock.move_to(NOON + timedelta(minutes=30))
        with capture_frames() as sent:
            actions.call_invite(user=dave, invitees=["carol"], timeout=60)
        assert "silent" not in received(sent, carol)


@pytest.mark.django_db
def test_no_push_for_an_invitee_in_dnd(client, push_service, alice, bob, carol):
    subscribe(client, push_service, bob)
    subscribe(client, push_service, carol)
    status.user_status_set(user=bob, status="dnd")
    call_id = actions.call_invite(user=alice, invitees=["bob", "carol"], timeout=60)["callID"]
    pushed = PushMessage.objects.filter(member__call__call_id=call_id)
    assert list(pushed.values_list("member__user__username", flat=True)) == ["carol"]
    assert deliver_all() == ["delivered"]
    # nor a closing push for bob when the invitation ends (there was nothing to close)
    actions.call_cancel(user=alice, call_id=call_id)
    assert set(pushed.values_list("member__user__username", "kind")) == {
        ("carol", PushMessage.INVITATION),
        ("carol", PushMessage.CLOSED),
    }


@pytest.mark.django_db
def test_once_until_passed_an_offline_invitee_is_pushed_again(client, push_service, alice, bob):
    subscribe(client, push_service, bob)
    with time_machine.travel(NOON, tick=False) as clock:
        status.user_status_set(user=bob, status="dnd", until=ms(NOON + timedelta(hours=1)))
        first = actions.call_invite(user=alice, invitees=["bob"], timeout=60)["callID"]
        assert not PushMessage.objects.exists()
        actions.call_cancel(user=alice, call_id=first)
        clock.move_to(NOON + timedelta(hours=2))
        actions.call_invite(user=alice, invitees=["bob"], timeout=60)
        assert PushMessage.objects.count() == 1


# --- over the WebSocket --------------------------------------------------------------------------


@pytest.fixture
async def close_sync_thread_connections():
    yield
    await database_sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_sync_thread_connections")
async def test_set_and_query_over_the_websocket_and_the_silent_flag_live_and_on_connect(alice, bob, carol):
    tokens = {
        u.username: await database_sync_to_async(token_actions.api_token_create)(user=u) for u in (alice, bob, carol)
    }
    b, _ = await connect(tokens["bob"], "b1")
    answer = await command(b, "queryUserStatus")
    assert answer == {"type": "result", "id": 1, "ok": True, "data": {"status": "available", "until": None}}
    until = ms(timezone.now()) + 3_600_000
    answer = await command(b, "setUserStatus", 2, status="dnd", until=until)
    assert answer["ok"] and answer["data"] == {"status": "dnd", "until": until}
    refused = await command(b, "setUserStatus", 3, status="busy")
    assert not refused["ok"] and refused["error"]["reason"] == "invalid_argument"
    assert (await command(b, "queryUserStatus", 4))["data"] == {"status": "dnd", "until": until}

    # live: bob's device gets the invitation, silent
    call_id = (await database_sync_to_async(actions.call_invite)(user=alice, invitees=["bob", "carol"]))["callID"]
    live = [f for f in await frames(b, 2) if f.get("event") == "callInvitationReceived"]
    assert live[0]["data"]["callID"] == call_id and live[0]["data"]["silent"] is True
    # on connect: a second device of bob's gets it again, silent; carol's (available) rings
    b2, _ = await connect(tokens["bob"], "b2")
    again = [f for f in b2.on_connect if f.get("event") == "callInvitationReceived"]
    again += [f for f in await frames(b2, 0 if again else 1) if f.get("event") == "callInvitationReceived"]
    assert again[0]["data"]["silent"] is True
    c, _ = await connect(tokens["carol"], "c1")
    pending = c.on_connect + await frames(c, 2 - len(c.on_connect))
    [to_carol] = [f for f in pending if f.get("event") == "callInvitationReceived"]
    assert "silent" not in to_carol["data"]
    # bob turns it off: a device connecting now is rung loudly for the same invitation
    await b.send_json_to({"type": "cmd", "id": 5, "cmd": "setUserStatus", "data": {"status": "available"}})
    while (frame := await b.receive_json_from(timeout=10)).get("type") != "result":
        assert frame["event"] == "callUserStateChanged"  # carol's and bob's devices being Received
    assert frame["data"] == {"status": "available", "until": None}
    b3, _ = await connect(tokens["bob"], "b3")
    rest = b3.on_connect + await frames(b3, 1 - len(b3.on_connect))
    [loud] = [f for f in rest if f.get("event") == "callInvitationReceived"]
    assert "silent" not in loud["data"]
    for comm in (b, b2, b3, c):
        await comm.disconnect()
